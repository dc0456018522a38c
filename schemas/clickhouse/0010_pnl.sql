-- Mark-to-market P&L per (book, underlying) (docs/contract.md "Mark-to-market P&L"), emitted with
-- the key's exposure. ReplacingMergeTree on event_id: redelivery collapses.
CREATE TABLE IF NOT EXISTS pnl
(
    event_id       String,
    ts             DateTime64(6, 'UTC'),
    book           LowCardinality(String),
    underlying     LowCardinality(String),
    realized_usd   Float64,
    unrealized_usd Float64,
    fees_usd       Float64,
    funding_usd    Float64,
    total_usd      Float64,
    caused_by      String,
    seq            Int64  -- emission order (output index or Kafka offset): breaks ts ties
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (book, underlying, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
