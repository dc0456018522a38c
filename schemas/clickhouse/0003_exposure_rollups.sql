-- Per-minute, per-hour and per-day exposure aggregates, filled by materialized views on
-- insert, so time series and as-of queries do not scan raw history: an as-of reads whole
-- days before its day, hours of its day, minutes of its hour and raw rows of its minute.
-- All states are duplicate-insensitive (argMax by (ts, seq), min, max): redelivered rows
-- change nothing.
CREATE TABLE IF NOT EXISTS exposure_1m
(
    book       LowCardinality(String),
    underlying LowCardinality(String),
    bucket     DateTime('UTC'),
    last_ts    SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    last       AggregateFunction(argMax,
                   Tuple(Float64, Float64, Float64, Float64, Float64, Nullable(Float64), Int64),
                   Tuple(DateTime64(6, 'UTC'), Int64)),
    delta_min  SimpleAggregateFunction(min, Float64),
    delta_max  SimpleAggregateFunction(max, Float64),
    delta_usd_min SimpleAggregateFunction(min, Nullable(Float64)),
    delta_usd_max SimpleAggregateFunction(max, Nullable(Float64)),
    gamma_min  SimpleAggregateFunction(min, Float64),
    gamma_max  SimpleAggregateFunction(max, Float64),
    vega_min   SimpleAggregateFunction(min, Float64),
    vega_max   SimpleAggregateFunction(max, Float64),
    theta_min  SimpleAggregateFunction(min, Float64),
    theta_max  SimpleAggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(bucket)
ORDER BY (book, underlying, bucket)
-- small granules: an as-of reads one hour of minutes per series, and with ~1 series per
-- granule the primary index skips the rest of the day (the states are costly to read)
SETTINGS index_granularity = 64;

CREATE TABLE IF NOT EXISTS exposure_1h AS exposure_1m
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (book, underlying, bucket)
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS exposure_1d AS exposure_1m
ENGINE = AggregatingMergeTree
PARTITION BY toYear(bucket)
ORDER BY (book, underlying, bucket);

CREATE MATERIALIZED VIEW IF NOT EXISTS exposure_1m_mv TO exposure_1m AS
SELECT
    book, underlying, toStartOfMinute(ts) AS bucket,
    max(ts) AS last_ts,
    argMaxState((delta, delta_equity, gamma, vega, theta, delta_usd, positions), (ts, seq)) AS last,
    min(delta) AS delta_min, max(delta) AS delta_max,
    min(delta_usd) AS delta_usd_min, max(delta_usd) AS delta_usd_max,
    min(gamma) AS gamma_min, max(gamma) AS gamma_max,
    min(vega) AS vega_min, max(vega) AS vega_max,
    min(theta) AS theta_min, max(theta) AS theta_max
FROM exposures
GROUP BY book, underlying, bucket;

-- Hours roll up from minutes and days from hours (chained views: each insert block of
-- exposures is aggregated once, the coarser rollups see the already-small minute block).
CREATE MATERIALIZED VIEW IF NOT EXISTS exposure_1h_mv TO exposure_1h AS
SELECT
    book, underlying, toStartOfHour(bucket) AS bucket,
    max(last_ts) AS last_ts,
    argMaxMergeState(last) AS last,
    min(delta_min) AS delta_min, max(delta_max) AS delta_max,
    min(delta_usd_min) AS delta_usd_min, max(delta_usd_max) AS delta_usd_max,
    min(gamma_min) AS gamma_min, max(gamma_max) AS gamma_max,
    min(vega_min) AS vega_min, max(vega_max) AS vega_max,
    min(theta_min) AS theta_min, max(theta_max) AS theta_max
FROM exposure_1m
GROUP BY book, underlying, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS exposure_1d_mv TO exposure_1d AS
SELECT
    book, underlying, toStartOfDay(bucket) AS bucket,
    max(last_ts) AS last_ts,
    argMaxMergeState(last) AS last,
    min(delta_min) AS delta_min, max(delta_max) AS delta_max,
    min(delta_usd_min) AS delta_usd_min, max(delta_usd_max) AS delta_usd_max,
    min(gamma_min) AS gamma_min, max(gamma_max) AS gamma_max,
    min(vega_min) AS vega_min, max(vega_max) AS vega_max,
    min(theta_min) AS theta_min, max(theta_max) AS theta_max
FROM exposure_1h
GROUP BY book, underlying, bucket;
