"""A book record dated far ahead of the market (core/guards.py ``too_far_ahead``,
docs/streaming.md *A record dated far ahead*): rejected as ``ts_ahead``, changing nothing, so
one mistyped year cannot make every later record ``late_event``. Market data is the clock:
it is never compared, and after a gap it moves the clock on."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import BOOK_TYPES, DecodeError, decode_event, encode
from greekstream.core.guards import MAX_TS_AHEAD_S, MAX_TS_US
from greekstream.core.timeutil import format_ts, parse_ts
from greekstream.runtime.replay import read_records
from tests.unit import builders as b
from tests.unit.test_dedup import CALL, HOUR, engine_with_market

CASES = Path(__file__).resolve().parents[1] / "golden" / "cases"
CASE_RECORDS = {p.stem: list(read_records(p)) for p in sorted(CASES.glob("*.jsonl"))}
LIMIT_US = round(MAX_TS_AHEAD_S * 1e6)


def run(records: list[tuple[bytes | str, str]], config: EngineConfig | None = None
        ) -> list[bytes]:
    engine = Engine(config or EngineConfig())
    return [encode(o) for o in engine.apply_batch(records) + engine.flush()]


def dated(raw: bytes | str, ts_us: int, event_id: str) -> bytes:
    doc = orjson.loads(raw)
    doc.update(ts=format_ts(ts_us), event_id=event_id)
    return orjson.dumps(doc)


def test_a_trade_dated_a_century_ahead_is_rejected_and_the_day_goes_on() -> None:
    """The reported case: one trade dated 2100 in a day's stream. Before, every record
    after it was rejected as late_event (and no window closed); now it alone is rejected
    and every other output is the clean day's, byte for byte."""
    records = CASE_RECORDS["linear_call"]
    at = next(i for i, (raw, _) in enumerate(records) if orjson.loads(raw)["type"] == "trade")
    bad = (dated(records[at][0], parse_ts("2100-01-01T00:00:00Z"), "typo"), "bad:1")
    clean = run(records)
    poisoned = run([*records[:at + 1], bad, *records[at + 1:]])
    rejected = [orjson.loads(o) for o in poisoned if b'"rejected"' in o]
    assert [(r["reason"], r["source"]) for r in rejected] == [("ts_ahead", "bad:1")]
    assert "2100-01-01T00:00:00Z" in rejected[0]["detail"]
    assert "MAX_TS_AHEAD_S" in rejected[0]["detail"]  # what to do if the jump is real
    assert [o for o in poisoned if b'"rejected"' not in o] == clean


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(sorted(CASE_RECORDS)), data=st.data())
def test_any_book_record_dated_past_the_limit_changes_no_output_but_its_rejection(
        case: str, data: st.DataObject) -> None:
    """Any book record copied anywhere after the first market record, dated past the
    limit (but inside the accepted range): one ts_ahead rejection, every other output as
    without it."""
    records = CASE_RECORDS[case]
    docs = [orjson.loads(raw) for raw, _ in records]
    # the default, or just above the case's own largest lead on the market (12.5 h in
    # linear_call: hand-made cases leave long gaps, hence a default of a year and a day)
    tight = math.ceil(largest_lead_us(docs) / 1e6) + 1
    config = EngineConfig(max_ts_ahead_s=data.draw(st.sampled_from([tight, MAX_TS_AHEAD_S])))
    limit_us = round(config.max_ts_ahead_s * 1e6)
    first_market = next(i for i, d in enumerate(docs) if d["type"] not in BOOK_TYPES)
    at = data.draw(st.integers(first_market, len(records) - 1), label="after record")
    market_clock = max(parse_ts(d["ts"]) for d in docs[:at + 1] if d["type"] not in BOOK_TYPES)
    ahead = data.draw(st.integers(limit_us + 1, MAX_TS_US - market_clock), label="ahead µs")
    valid = [i for i, (raw, _) in enumerate(records)
             if decodes(raw) and docs[i]["type"] in BOOK_TYPES]
    model = data.draw(st.sampled_from(valid), label="copy of record")
    bad = (dated(records[model][0], market_clock + ahead, "dated-ahead"), "bad:1")
    clean = run(records, config)
    poisoned = run([*records[:at + 1], bad, *records[at + 1:]], config)
    ahead = [o for o in poisoned if b'"ts_ahead"' in o]
    assert [orjson.loads(o)["source"] for o in ahead] == ["bad:1"]
    assert [o for o in poisoned if o not in ahead] == clean


def decodes(raw: bytes | str) -> bool:
    try:
        decode_event(raw)
    except DecodeError:
        return False  # the case's own bad record: rejected for what it is
    return True


def largest_lead_us(docs: list[dict[str, str]]) -> int:
    """How far past the market clock the case's own records go at most."""
    market, lead = None, 0
    for d in docs:
        ts = parse_ts(d["ts"])
        if market is not None:
            lead = max(lead, ts - market)
        if d["type"] not in BOOK_TYPES:
            market = ts if market is None else max(market, ts)
    return lead


def test_the_limit_counts_from_the_market_clock_to_the_microsecond() -> None:
    engine = engine_with_market(EngineConfig(max_ts_ahead_s=HOUR))
    market = engine.state.market_clock  # the setup's last market record, at 2 s
    assert market == b.parse(b.ts(2))
    # a book record moves the engine's clock but not the market's
    assert engine.handle(b.trade("t1", 2 + 0.9 * HOUR, CALL, "buy", 1), "s")[0].type != "rejected"
    assert engine.state.market_clock == market and engine.clock == b.parse(b.ts(2 + 0.9 * HOUR))
    (late,) = engine.handle(b.trade("t2", 2 + 1.5 * HOUR, CALL, "buy", 1), "s")
    assert late.type == "rejected" and late.reason == "ts_ahead"
    limit = b.limits("l-past", 0, max_abs_delta=5.0)
    past_limit = dated(limit, market + round(HOUR * 1e6) + 1, "l-past")
    at_limit = dated(limit, market + round(HOUR * 1e6), "l-at")
    before = engine.snapshot()
    (past,) = engine.handle(past_limit, "s")
    assert past.reason == "ts_ahead"
    assert "1 h" not in past.detail and "3,600 s" in past.detail  # short limits in seconds
    assert b.unchanged_but_rejection_chain(before, engine.snapshot(), [past])
    assert all(o.type != "rejected" for o in engine.handle(at_limit, "s"))
    assert engine.state.market_clock == market  # a book record is not market data


def test_market_data_is_the_clock_and_moves_it_on_after_any_gap() -> None:
    """Market data is never compared: after a gap longer than the limit (a state kept
    from last year's demo day, then a live feed) it moves the clock on, and the books'
    records after it are judged against it. Were it compared, nothing would ever move
    the market's clock again and every record would be rejected."""
    engine = engine_with_market(EngineConfig(max_ts_ahead_s=HOUR))
    year = 400 * 24 * HOUR
    for i, raw in enumerate([b.index("x-next-year", year, 61000),
                             b.quote_mark("m-next-year", year + 1, "BTC-PERPETUAL", 61010),
                             b.trade("t-next-year", year + 2, CALL, "buy", 1)]):
        assert all(o.type != "rejected" for o in engine.handle(raw, f"s:{i}")), i
    assert engine.state.market_clock == b.parse(b.ts(year + 1))


def test_a_window_tick_dated_ahead_is_nothing_and_window_ticks_move_no_market_clock() -> None:
    """The gateway's window tick stands for the book record after it (and its end tick
    for the end of the input): it does not move the market's clock, which a file replay
    (no such ticks) would not have either; one dated past the limit stands for a book
    record rejected as ts_ahead and is ignored whole. An idle spell's tick is event time
    passing, as market data."""
    engine = engine_with_market(EngineConfig(max_ts_ahead_s=HOUR))
    market = engine.state.market_clock
    before = engine.snapshot()
    assert engine.handle(b.tick("gs-window-9", 2 + 2 * HOUR), "s") == []
    assert engine.snapshot() == before  # not even a chain head moved
    late = engine.handle(b.tick("gs-window-10", -2 * 24 * HOUR), "s")  # a late one: nothing
    assert late == [] and engine.snapshot() == before
    # the end-of-input tick stands for the end of a file: past the limit, it still closes
    # the open window as flush() does, moving no clock
    twin = engine_with_market(EngineConfig(max_ts_ahead_s=HOUR))
    for e in (engine, twin):
        e.handle(b.quote_opt("q-dirty", 4, CALL, 61300, 0.62), "s")
    closed = engine.handle(b.tick("gs-window-end-11", 2 + 2 * HOUR), "s")
    assert [encode(o) for o in closed] == [encode(o) for o in twin.flush()] != []
    assert (engine.clock, engine.state.market_clock) == (twin.clock, twin.state.market_clock)
    market = engine.state.market_clock  # the quote's
    assert engine.handle(b.tick("gs-window-11", 2 + 0.5 * HOUR), "s") is not None
    assert engine.state.market_clock == market and engine.clock == b.parse(b.ts(2 + 0.5 * HOUR))
    engine.handle(b.tick("gs-tick-12", 2 + 0.7 * HOUR), "s")  # an idle spell's tick
    assert engine.state.market_clock == b.parse(b.ts(2 + 0.7 * HOUR))


def test_no_limit_with_0_and_nothing_compared_before_the_first_market_record() -> None:
    far = 30 * 24 * HOUR
    engine = engine_with_market(EngineConfig(max_ts_ahead_s=0))
    assert engine.handle(b.index("x-far", far, 61000), "s")[0].type != "rejected"
    engine = Engine(EngineConfig(max_ts_ahead_s=HOUR))
    for i, raw in enumerate([b.limits("l0", 0, max_abs_delta=1.0),
                             b.limits("l1", far, max_abs_delta=2.0)]):  # no market clock yet
        assert all(o.type != "rejected" for o in engine.handle(raw, f"s:{i}")), i
    assert engine.state.market_clock is None and engine.clock == b.parse(b.ts(far))
    engine.handle(b.option(CALL, 60000, at=far), "s:2")  # an instrument is market data
    assert engine.state.market_clock == b.parse(b.ts(far))


def test_the_market_clock_survives_a_restore_and_an_older_snapshot_loads() -> None:
    engine = engine_with_market(EngineConfig(max_ts_ahead_s=HOUR))
    blob = engine.snapshot()
    restored = Engine(EngineConfig(max_ts_ahead_s=HOUR))
    restored.restore(blob)
    (rejected,) = restored.handle(b.trade("t-ahead", 2 + 2 * HOUR, CALL, "buy", 1), "s")
    assert rejected.reason == "ts_ahead"
    doc = orjson.loads(blob)
    del doc["market"]["market_clock"]  # a checkpoint written before ts_ahead
    older = Engine(EngineConfig(max_ts_ahead_s=HOUR))
    older.restore(orjson.dumps(doc))
    assert older.state.market_clock is None  # until the next market record
    assert older.handle(b.trade("t-ahead", 2 + 2 * HOUR, CALL, "buy", 1), "s")[0].type != (
        "rejected")


def test_a_limit_is_0_or_a_number_of_seconds_and_never_no_limit_by_rounding() -> None:
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="max_ts_ahead_s must be 0"):
            Engine(EngineConfig(max_ts_ahead_s=bad))
    engine = Engine(EngineConfig(max_ts_ahead_s=1e-9))  # one µs, not none
    engine.handle(b.index("x0", 1, 61000), "s")
    market = b.parse(b.ts(1))
    limits = b.limits("l", 0, max_abs_delta=5.0)
    assert all(o.type != "rejected" for o in engine.handle(dated(limits, market + 1, "l1"), "s"))
    (rejected,) = engine.handle(dated(limits, market + 2, "l2"), "s")
    assert rejected.reason == "ts_ahead"
