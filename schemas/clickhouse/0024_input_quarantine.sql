-- Input records whose raw_events row ClickHouse refused for its data (docs/history.md,
-- "Input records"): the sink stores each here instead, commits past it and goes on,
-- rather than retrying the batch forever as if ClickHouse were down. The same table as
-- output_quarantine (0023: its columns, engine, key and settings), keyed by where the
-- record is (topic, partition, offset): a re-read of the same offsets collapses here
-- (query with FINAL) and a retried batch is dropped by its insert deduplication token.
-- `raw` holds the record's bytes as they arrived; `type` and `event_id` are what could be
-- read of them ('' when nothing could); `reason` is `clickhouse_refused`, `message`
-- ClickHouse's.
CREATE TABLE IF NOT EXISTS input_quarantine AS output_quarantine;
