"""The exposure rollups (1m → 1h → 1d, chained materialized views) against the raw table.

Rows arrive in several inserts, out of time order, with ties at one ts, null delta_usd
and a redelivered batch; every bucket of every tier must equal the same aggregate
computed straight from the exposures table, and the tiered as-of must equal a plain
argMax over the raw rows.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from greekstream.core.timeutil import format_ts, parse_ts
from greekstream.history import connect
from greekstream.history.asof import stored_exposures_as_of
from greekstream.history.client import History
from greekstream.history.migrate import migrate
from greekstream.history.writer import HistoryWriter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

START = parse_ts("2026-03-01T22:50:00Z")  # the rows cross an hour and a day boundary
SECOND = 1_000_000
SERIES = [("desk-a", "BTC"), ("desk-a", "ETH"), ("desk-b", "BTC")]
TIERS = {"exposure_1m": "toStartOfMinute", "exposure_1h": "toStartOfHour",
         "exposure_1d": "toStartOfDay"}


def exposure(i: int, rng: random.Random) -> bytes:
    book, underlying = SERIES[i % len(SERIES)]
    # one row per series every 6 s over 2 h; every 5th step repeats the one before (a tie
    # at one ts, broken by emission order)
    step = i // len(SERIES)
    ts = START + (step - (step % 5 == 0 and step > 0)) * 6 * SECOND
    return orjson.dumps({
        "type": "exposure", "event_id": f"x{i}", "ts": format_ts(ts), "book": book,
        "underlying": underlying, "delta": rng.uniform(-50, 50),
        "delta_equity": rng.uniform(-50, 50), "gamma": rng.uniform(-1, 1) * 1e-4,
        "vega": rng.uniform(-5e3, 5e3), "theta": rng.uniform(-900, 0),
        "delta_usd": None if i % 11 == 0 else rng.uniform(-3e6, 3e6),
        "positions": rng.randrange(40), "caused_by": f"c{i}",
    })


@pytest.fixture
def history(dsn: str) -> Any:
    rng = random.Random(7)
    bodies = [exposure(i, rng) for i in range(3_600)]
    batches = [bodies[2_400:], bodies[:900], bodies[900:2_400], bodies[:900]]  # late + redelivery
    with connect(dsn, create=True) as h:
        migrate(h)
        writer = HistoryWriter(h)
        for batch in batches:
            for body in batch:
                writer.add_output_json(body, seq=int(orjson.loads(body)["event_id"][1:]))
            writer.flush()
        yield h


_RANGES = ", ".join(f"min({m}_min), max({m}_max)"
                    for m in ("delta", "delta_usd", "gamma", "vega", "theta"))
_RAW_RANGES = ", ".join(f"min({m}), max({m})" for m in ("delta", "delta_usd", "gamma", "vega",
                                                        "theta"))
_LAST = "(delta, delta_equity, gamma, vega, theta, delta_usd, positions)"


def from_rollup(h: History, table: str) -> list[tuple[Any, ...]]:
    return h.rows(
        f"SELECT book, underlying, bucket, toUnixTimestamp64Micro(max(last_ts)), "
        f"argMaxMerge(last), {_RANGES} FROM {table} "
        "GROUP BY book, underlying, bucket ORDER BY book, underlying, bucket"
    )


def from_raw(h: History, bucket: str) -> list[tuple[Any, ...]]:
    return h.rows(
        f"SELECT book, underlying, {bucket}(ts) AS b, toUnixTimestamp64Micro(max(ts)), "
        f"argMax({_LAST}, (ts, seq)), {_RAW_RANGES} FROM exposures "
        "GROUP BY book, underlying, b ORDER BY book, underlying, b"
    )


def test_every_tier_equals_the_raw_aggregate(history: History) -> None:
    assert history.rows("SELECT count(), uniqExact(event_id) FROM exposures")[0][1] == 3_600
    for table, bucket in TIERS.items():
        rolled, raw = from_rollup(history, table), from_raw(history, bucket)
        assert len(rolled) > len(SERIES), table
        assert rolled == raw, table
    days = {r[2] for r in from_rollup(history, "exposure_1d")}
    assert len(days) == 2  # the data crosses midnight


def test_tiered_as_of_equals_argmax_over_raw_rows(history: History) -> None:
    sql = (f"SELECT book, underlying, toUnixTimestamp64Micro(max(ts)), argMax({_LAST}, (ts, seq)) "
           "FROM exposures WHERE ts <= fromUnixTimestamp64Micro({t:Int64}, 'UTC') "
           "GROUP BY book, underlying ORDER BY book, underlying")
    moments = [START + 61 * SECOND, parse_ts("2026-03-01T23:59:59.999999Z"),
               parse_ts("2026-03-02T00:00:00Z"), START + 6_543_210_987, START + 10**10]
    for at in moments:
        want = [{"book": b, "underlying": u, "ts": format_ts(int(t)),
                 **dict(zip(("delta", "delta_equity", "gamma", "vega", "theta", "delta_usd",
                             "positions"), v, strict=True))}
                for b, u, t, v in history.rows(sql, {"t": at})]
        got = stored_exposures_as_of(history, at)
        assert want and got == want, format_ts(at)
    assert stored_exposures_as_of(history, START + 61 * SECOND, ["desk-b"]) == [
        r for r in stored_exposures_as_of(history, START + 61 * SECOND) if r["book"] == "desk-b"]
