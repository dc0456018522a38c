-- Volatility regime changes per underlying (SPEC v2 "Volatility regimes", docs/regimes.md).
CREATE TABLE IF NOT EXISTS regimes
(
    event_id           String,
    ts                 DateTime64(6, 'UTC'),
    underlying         LowCardinality(String),
    regime             LowCardinality(String),
    previous           Nullable(String),
    realized_vol       Float64,
    implied_vol        Nullable(Float64),
    implied_instrument Nullable(String),
    caused_by          String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (underlying, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
