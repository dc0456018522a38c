-- Hedge intent lifecycle (SPEC v2, docs/execution.md): prices and expiry on the intent,
-- and how each intent closed (filled | expired | superseded, exactly one per intent).
ALTER TABLE hedge_intents ADD COLUMN IF NOT EXISTS reference_price Nullable(Float64);
ALTER TABLE hedge_intents ADD COLUMN IF NOT EXISTS limit_price Nullable(Float64);
ALTER TABLE hedge_intents ADD COLUMN IF NOT EXISTS est_cost_usd Nullable(Float64);
ALTER TABLE hedge_intents ADD COLUMN IF NOT EXISTS expires_at Nullable(DateTime64(6, 'UTC'));

CREATE TABLE IF NOT EXISTS intent_status
(
    event_id      String,
    ts            DateTime64(6, 'UTC'),
    intent_id     String,
    book          LowCardinality(String),
    underlying    LowCardinality(String),
    instrument_id String,
    state         LowCardinality(String),
    caused_by     String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (book, underlying, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
