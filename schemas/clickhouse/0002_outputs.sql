-- The engine's outputs, one table per output type, keyed for the analytics queries.
-- ReplacingMergeTree on event_id (part of the sorting key): redelivery collapses.
-- Queries use duplicate-insensitive aggregates (argMax, min, max, any, uniqExact) or FINAL.
CREATE TABLE IF NOT EXISTS exposures
(
    event_id          String,
    ts                DateTime64(6, 'UTC'),
    book              LowCardinality(String),
    underlying        LowCardinality(String),
    delta             Float64,
    delta_equity      Float64,
    gamma             Float64,
    vega              Float64,
    theta             Float64,
    delta_usd         Nullable(Float64),
    positions         Int64,
    caused_by         String,
    stale             Bool,
    oracle_divergence Bool,
    seq               Int64  -- emission order (output index or Kafka offset): breaks ts ties
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (book, underlying, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS breaches
(
    event_id   String,
    ts         DateTime64(6, 'UTC'),
    breach_id  String,
    book       LowCardinality(String),
    underlying LowCardinality(String),
    metric     LowCardinality(String),
    value      Nullable(Float64),
    `limit`    Nullable(Float64),
    state      LowCardinality(String),
    caused_by  String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (book, underlying, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS hedge_intents
(
    event_id      String,
    ts            DateTime64(6, 'UTC'),
    intent_id     String,
    book          LowCardinality(String),
    underlying    LowCardinality(String),
    instrument_id String,
    side          LowCardinality(String),
    quantity      Int64,
    delta_before  Float64,
    delta_after   Float64,
    basis         LowCardinality(String),
    caused_by     String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (book, underlying, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- A rejection may have no event time (the record did not parse): has_ts = false, ts = epoch.
CREATE TABLE IF NOT EXISTS rejections
(
    event_id String,
    ts       DateTime64(6, 'UTC'),
    has_ts   Bool,
    reason   LowCardinality(String),
    detail   String,
    source   String,
    raw      String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Scenario-risk outputs, stored generically: the event's JSON plus the keys to serve it.
CREATE TABLE IF NOT EXISTS risk_matrix
(
    event_id   String,
    ts         DateTime64(6, 'UTC'),
    book       LowCardinality(String),
    underlying LowCardinality(String),
    worst_loss Nullable(Float64),
    json       String CODEC(ZSTD(3)),
    seq        Int64  -- emission order (output index or Kafka offset): breaks ts ties
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (book, underlying, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
