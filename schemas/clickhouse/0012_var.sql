-- Historical VaR and expected shortfall per book (the `var` output), stored like
-- risk_matrix: the keys to serve it, the two figures, and the event's JSON.
CREATE TABLE IF NOT EXISTS var
(
    event_id   String,
    ts         DateTime64(6, 'UTC'),
    book       LowCardinality(String),
    var        Float64,
    es         Float64,
    json       String CODEC(ZSTD(3)),
    seq        Int64  -- emission order (output index or Kafka offset): breaks ts ties
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (book, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
