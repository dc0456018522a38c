-- Every input record exactly as it arrived (valid or not), with where it came from.
-- Append-only; a redelivered record has the same record_key (its source) and is
-- collapsed by the Replacing engine; queries never depend on the collapse having run.
-- `ts` is the event time (a record that does not decode has the arrival clock instead).
-- `arrival_ts` is the event-time clock of its stream when it arrived: the running max
-- of ts over the stream (a file, or a topic partition), so ordering by
-- (arrival_ts, stream, partition, seq) replays every stream in arrival order, late
-- events included, and interleaves streams by event time.
CREATE TABLE IF NOT EXISTS raw_events
(
    record_key    String,
    event_id      String,
    type          LowCardinality(String),
    ts            DateTime64(6, 'UTC'),
    arrival_ts    DateTime64(6, 'UTC'),
    book          LowCardinality(String),
    underlying    LowCardinality(String),
    instrument_id String,
    raw           String CODEC(ZSTD(3)),
    source        String,
    stream        LowCardinality(String),
    partition     Int32,
    seq           Int64,
    decoded       Bool,
    ingested_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(arrival_ts)
ORDER BY (arrival_ts, stream, partition, seq, record_key)
SETTINGS non_replicated_deduplication_window = 1000;
