"""Values the door lets in must not break a later record, a flush or a restore (found by
helper 43's adversarial fuzzing; each test failed before its fix)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import encode
from tests.unit import builders as b
from tests.unit.test_engine_never_raises import check, setup_engine
from tests.unit.test_engine_properties import INSTRUMENTS


def run(engine: Engine, records: list[bytes]) -> list[Any]:
    out = []
    for i, raw in enumerate(records):
        out += engine.handle(raw, f"s:{i}")
    return out


@pytest.mark.parametrize("emit_ms", [0, 100])
def test_a_hedge_instrument_with_next_to_no_delta_asks_for_no_intent(emit_ms: int) -> None:
    """A desk hedging with a call the market then takes far out of the money (delta
    about 1e-43 per contract): the intent's quantity ran past 2**64, which the hash chain
    cannot encode, and every later record (with E > 0 every later window, and flush)
    failed. The hedge instrument cannot hedge that gap: no intent."""
    engine = Engine(EngineConfig(emit_interval_ms=emit_ms))
    out = run(engine, [*INSTRUMENTS, b.index("x0", 1, 61000),
                       b.quote_opt("q0", 2, "C60", 61200, 0.62),
                       b.limits("lim-h", 3, book="desk-h", hedge_instrument="C60",
                                hedge_band=0.5, hedge_timeout_s=1),
                       b.trade("t-h", 4, "BTC-SPOT", "buy", 3, book="desk-h"),
                       b.quote_opt("q1", 10, "C60", 20000, 0.3),  # delta ~1e-43
                       b.index("x1", 10.05, 20000),
                       b.quote_opt("q2", 20, "C60", 20100, 0.3),
                       b.index("x2", 20.05, 20100)])
    out += engine.flush()
    assert [o for o in out if o.type == "rejected"] == []
    quantities = [o.quantity for o in out if o.type == "hedge_intent"]
    assert quantities and all(q <= 1e15 for q in quantities)  # the first one, at 61200
    for o in out:
        encode(o)


def test_a_risk_drift_that_must_re_run_the_matrix_survives_a_restore() -> None:
    """A trade of an instrument not yet quoted sets the book's risk drift to inf (re-run
    the matrix); when the matrix was already sent this window it stays inf. JSON has no
    inf: the snapshot wrote null, the restored engine read None and rejected the book's
    next trade (internal_error) where the straight run applied it."""
    config = EngineConfig(emit_interval_ms=100)
    engine = Engine(config)
    run(engine, [*INSTRUMENTS, b.index("x0", 1, 61000), b.quote_opt("q0", 2, "C60", 61200, 0.62),
                 b.rec("instrument", "def-NEW", 2, instrument_id="NEW", kind="option",
                       underlying="BTC", settlement="inverse", contract_size=1,
                       expiry="2026-06-26T08:00:00Z", strike=65000, option_type="put"),
                 b.trade("t0", 3.00, "C60", "buy", 5),
                 b.trade("t1", 3.01, "NEW", "buy", 1)])
    assert engine.books[("desk-a", "BTC")].risk_drift == float("inf")
    twin = Engine(config)
    twin.restore(engine.snapshot())
    later = b.trade("t2", 5, "C60", "buy", 1)
    straight = [encode(o) for o in engine.handle(later, "s")]
    assert [encode(o) for o in twin.handle(later, "s")] == straight
    assert b'"rejected"' not in b"".join(straight)


@pytest.mark.parametrize(("field", "value"), [
    ("block_number", 2**64),  # a snapshot's JSON brought it back as a float: no restore
    ("block_number", 2**63),
    ("log_index", 2**63),
])
def test_whole_numbers_beyond_int64_are_rejected_at_the_door(field: str, value: int) -> None:
    engine = setup_engine()
    doc = orjson.loads(b.rec("collateral", "c-big", 9, book="desk-a", asset="BTC", amount=1.0,
                             chain="eth", block_number=10, log_index=0))
    (out,) = check(engine, json.dumps(doc | {field: value}))  # (json: any size of int)
    assert out.reason == "value_out_of_range" and field in out.detail
    assert all(o.type != "rejected" for o in check(engine, json.dumps(doc | {field: 2**63 - 1})))
    Engine().restore(engine.snapshot())  # and the state still restores


@pytest.mark.parametrize("scale", [1e308, 1e16, 5e-324, 1e-13])
def test_regime_scales_are_held_to_the_doors_bounds(scale: float) -> None:
    """regime_scale's numbers skipped the door's bounds: a scale of 1e308 made the scaled
    limit inf once a regime was set, and every later index of the underlying was rejected
    (non_finite_result), for every book."""
    engine = setup_engine()
    (out,) = check(engine, b.limits("lim-s", 9, max_abs_delta=10.0,
                                    regime_scale={"stressed": scale}))
    assert out.reason == "value_out_of_range" and "regime_scale.stressed" in out.detail
    assert all(o.type != "rejected" for o in check(
        engine, b.limits("lim-ok", 9, max_abs_delta=10.0, regime_scale={"stressed": 2.0})))


@pytest.mark.parametrize("text", [
    '\ud800',
    '{"type":"nope\ud800"}',
    '{"type":"trade","event_id":"s1","ts":"2026-03-01T00:01:00Z","book":"\udfff",'
    '"instrument_id":"C60","side":"buy","quantity":1,"price":1}',
])
def test_a_text_record_with_a_lone_surrogate_is_rejected_not_raised(text: str) -> None:
    """`handle` takes str too (a history replay's raw rows): a lone surrogate, which UTF-8
    cannot carry, made the rejection's id and JSON fail, and `handle` raised."""
    engine = setup_engine()
    out = check(engine, text)
    assert [o.type for o in out] == ["rejected"]  # (check: it encodes and validates)


def test_engine_intervals_are_a_microsecond_to_31700_years() -> None:
    """An interval below a microsecond divided by zero on every market record; one of
    1e14 s put a boundary past 2**63 µs and every snapshot (the journal's too) raised, out
    of `handle`; inf overflowed. The settings refuse them and so does the engine."""
    from pydantic import ValidationError

    from greekstream.settings import EngineSettings

    for bad in (1e-7, 1e14, float("inf"), float("nan")):
        with pytest.raises(ValidationError):
            EngineSettings(risk_interval_s=bad)
        with pytest.raises(ValueError, match="risk_interval_s must be from"):
            Engine(EngineConfig(risk_interval_s=bad))
    with pytest.raises(ValidationError):
        EngineSettings(emit_interval_ms=10**16)
    Engine(EngineConfig(risk_interval_s=1e12, revaluation_interval_s=1e-6))  # (the bench's)


def lp(eid: str, at: float, book: str, block: int) -> bytes:
    return b.rec("lp_position", eid, at, book=book, position_id="lp1", pool="uni", base="BTC",
                 liquidity=1e6, price_lower=50000, price_upper=70000, chain="eth",
                 block_number=block)


def test_a_position_id_is_each_books_own() -> None:
    """Positions were keyed by position_id alone: desk-b's "lp1" took desk-a's away (a
    processor owning desk-a alone never sees desk-b's record), and dropping desk-a (its
    partition moving) deleted desk-b's position's history, so a checkpoint lost it."""
    from tests.unit.kafka.test_ts_ahead_windows import assert_processors_replay
    from tests.unit.test_emission_windows import SETUP

    records = [*SETUP, lp("lp-a", 1, "desk-a", 100), lp("lp-b", 2, "desk-b", 101)]
    engine = Engine(EngineConfig(emit_interval_ms=0))
    run(engine, records)

    def open_lps(e: Engine, book: str) -> list[str]:
        return [p.event_id for p in e.chain.positions(book)]

    assert (open_lps(engine, "desk-a"), open_lps(engine, "desk-b")) == (["lp-a"], ["lp-b"])
    engine.drop_books(lambda book: book == "desk-a")
    twin = Engine(EngineConfig(emit_interval_ms=0))
    twin.restore(engine.snapshot())
    assert open_lps(twin, "desk-b") == ["lp-b"] and open_lps(twin, "desk-a") == []
    assert_processors_replay([*records, b.index("x1", 3, 61000)],
                             EngineConfig(emit_interval_ms=100))


def test_an_older_snapshots_positions_load_per_book() -> None:
    """A checkpoint written before positions were per book ({position_id: events})."""
    from tests.unit.test_emission_windows import SETUP

    engine = Engine(EngineConfig(emit_interval_ms=0))
    run(engine, [*SETUP, lp("lp-a", 1, "desk-a", 100)])
    doc = orjson.loads(engine.snapshot())
    ((_book, pid, events),) = doc["positions"]
    doc["positions"] = {pid: events}
    older = Engine(EngineConfig(emit_interval_ms=0))
    older.restore(orjson.dumps(doc))
    assert [p.event_id for p in older.chain.positions("desk-a")] == ["lp-a"]
    assert older.snapshot() == engine.snapshot()


def test_ticks_at_the_end_of_the_accepted_range_close_the_last_window() -> None:
    """An input ending within a window of 2105-12-31T23:59:59.999999Z: the gateway's end
    tick (last ts + E) and a history replay's closing tick (the window's end) were past the
    range, rejected (ts_out_of_range), and the last window never closed behind them."""
    from greekstream.core.guards import MAX_TS_US
    from greekstream.core.timeutil import format_ts
    from greekstream.runtime.replay import closing_tick_record
    from tests.unit.kafka.test_ts_ahead_windows import assert_processors_replay
    from tests.unit.test_emission_windows import SETUP

    end = format_ts(MAX_TS_US - 50_000).encode()
    last = b.index("x-end", 0, 60100).replace(b.ts(0).encode(), end)
    replayed = assert_processors_replay([*SETUP, last], EngineConfig(emit_interval_ms=100))
    assert "x-end" in {getattr(o, "caused_by", "") for o in replayed}
    engine = Engine(EngineConfig(emit_interval_ms=100))
    run(engine, [*SETUP, last])
    tick = closing_tick_record(engine, "f.jsonl:9")
    assert tick is not None and orjson.loads(tick[0])["ts"] == format_ts(MAX_TS_US)
    closed = engine.handle(*tick)
    assert closed and all(o.type != "rejected" for o in closed)
