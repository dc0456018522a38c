-- Output records the sink could not store as their rows (docs/history.md, "Quarantine"):
-- not JSON, not an object, a missing or wrong-typed field, or a row ClickHouse refused.
-- One row per Kafka record, keyed by where it is (topic, partition, offset): a re-read
-- of the same offsets collapses here (query with FINAL) and a retried batch is dropped
-- by its insert deduplication token. `raw` holds the record's bytes as they arrived;
-- `type` and `event_id` are what could be read of them ('' when nothing could).
-- `reason` is machine-readable (history/rows.py QUARANTINE_REASONS), `message` says
-- which field and what was wrong. No wall-clock column: the offset identifies a record.
CREATE TABLE IF NOT EXISTS output_quarantine
(
    topic     LowCardinality(String),
    partition Int32,
    offset    Int64,
    type      LowCardinality(String),
    event_id  String,
    reason    LowCardinality(String),
    message   String,
    raw       String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 1000;
