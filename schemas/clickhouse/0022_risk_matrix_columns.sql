-- Compact risk_matrix (issue 12, item 5; docs/history.md): a matrix's scenarios as
-- parallel arrays, cell i = (price_shocks[i], vol_shocks[i], time_shift_h[i], names[i],
-- pnl[i]) in the grid's order, as the event carries them. A quant reads the cells in SQL:
--   SELECT book, underlying, ts, p, v, h, n, x FROM risk_matrix
--   ARRAY JOIN price_shocks AS p, vol_shocks AS v, time_shift_h AS h, names AS n, pnl AS x
-- The writer fills them (history/rows.py). A row stored before this migration holds the
-- older event JSON (a `scenarios` list of objects) and no arrays on disk: ClickHouse
-- computes a column missing from a part from its DEFAULT when it is read, so the same
-- expression gives old rows their arrays from their JSON (and a row written without
-- them, from its columnar JSON). The `json` column stays: the event as produced.
ALTER TABLE risk_matrix
    ADD COLUMN IF NOT EXISTS price_shocks Array(Float64) DEFAULT if(JSONHas(json, 'scenarios'),
        arrayMap(s -> JSONExtract(s, 'price_shock', 'Float64'), JSONExtractArrayRaw(json, 'scenarios')),
        JSONExtract(json, 'price_shocks', 'Array(Float64)')) AFTER worst_loss,
    ADD COLUMN IF NOT EXISTS vol_shocks Array(Float64) DEFAULT if(JSONHas(json, 'scenarios'),
        arrayMap(s -> JSONExtract(s, 'vol_shock', 'Float64'), JSONExtractArrayRaw(json, 'scenarios')),
        JSONExtract(json, 'vol_shocks', 'Array(Float64)')) AFTER price_shocks,
    ADD COLUMN IF NOT EXISTS time_shift_h Array(Float64) DEFAULT if(JSONHas(json, 'scenarios'),
        arrayMap(s -> JSONExtract(s, 'time_shift_h', 'Float64'), JSONExtractArrayRaw(json, 'scenarios')),
        JSONExtract(json, 'time_shift_h', 'Array(Float64)')) AFTER vol_shocks,
    ADD COLUMN IF NOT EXISTS names Array(Nullable(String)) DEFAULT if(JSONHas(json, 'scenarios'),
        arrayMap(s -> JSONExtract(s, 'name', 'Nullable(String)'), JSONExtractArrayRaw(json, 'scenarios')),
        JSONExtract(json, 'names', 'Array(Nullable(String))')) AFTER time_shift_h,
    ADD COLUMN IF NOT EXISTS pnl Array(Float64) DEFAULT if(JSONHas(json, 'scenarios'),
        arrayMap(s -> JSONExtract(s, 'pnl', 'Float64'), JSONExtractArrayRaw(json, 'scenarios')),
        JSONExtract(json, 'pnl', 'Array(Float64)')) AFTER names;
