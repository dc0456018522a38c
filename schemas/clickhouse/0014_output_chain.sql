-- The hash chain of every output record (SPEC v2 "Hash-chained outputs and signed reports",
-- core/chain.py): one row per output of any type, its chain link (prev, hash) and its
-- JSON exactly as it was produced, so `greekstream verify` can recompute each hash from
-- what is stored and compare it with the chain re-derived from the stored inputs.
-- book is "" for market-wide records (rejections, regimes); a rejection may have no
-- event time (has_ts = false, ts = epoch).
CREATE TABLE IF NOT EXISTS output_chain
(
    event_id String,
    type     LowCardinality(String),
    ts       DateTime64(6, 'UTC'),
    has_ts   Bool,
    book     LowCardinality(String),
    prev     String,
    hash     String,
    record   String CODEC(ZSTD(3)),
    seq      Int64  -- emission order (output index or Kafka offset)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (book, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
