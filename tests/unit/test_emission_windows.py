"""Emission in event-time windows (SPEC v2, docs/engine.md): the conflation rules, batch
apply = one by one, restore mid-window = straight run, determinism."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import encode
from greekstream.runtime.replay import replay
from tests.unit import builders as b

E100 = EngineConfig(emit_interval_ms=100)
SETUP = [
    b.option("C60", 60000),
    b.option("P55", 55000, kind="put"),
    b.perp(),
    b.index("x0", 0.0, 60000),
    b.quote_opt("q-c", 0.0, "C60", 60000, 0.6),
    b.quote_opt("q-p", 0.0, "P55", 60000, 0.7),
    b.quote_mark("q-f", 0.0, "BTC-PERPETUAL", 60000),
    b.trade("t-a", 0.01, "C60", "buy", 2, book="desk-a"),
    b.trade("t-b", 0.02, "P55", "sell", 3, book="desk-b"),
    b.trade("t-c", 0.03, "C60", "buy", 1, book="desk-c"),
]


def run(records: list[bytes], config: EngineConfig = E100) -> tuple[Engine, list[Any]]:
    engine = Engine(config)
    out = [o for i, raw in enumerate(records) for o in engine.handle(raw, f"s:{i}")]
    return engine, out


def rows(outputs: list[Any], kind: str = "exposure") -> list[dict[str, Any]]:
    return [orjson.loads(encode(o)) for o in outputs if o.type == kind]


def emitted(engine: Engine, raw: bytes) -> list[dict[str, Any]]:
    return rows(engine.handle(raw, "x"))


def test_quotes_in_a_window_emit_nothing_until_a_later_window_then_one_per_key() -> None:
    engine, _ = run(SETUP)
    # 0.05 .. 0.09 s: one window ([0, 100) ms) of quotes moving every book
    for i, (at, fwd) in enumerate(((0.05, 61000), (0.07, 61500), (0.09, 62000))):
        assert emitted(engine, b.quote_opt(f"q{i}", at, "C60", fwd, 0.6)) == []
    assert emitted(engine, b.quote_opt("q3", 0.095, "P55", 62000, 0.7)) == []
    # a record of the next window closes it before it is applied
    out = emitted(engine, b.quote_mark("q4", 0.15, "BTC-PERPETUAL", 62000))
    assert [(r["book"], r["caused_by"], r["ts"]) for r in out] == [
        ("desk-a", "q2", b.ts(0.09)),     # last record that dirtied it
        ("desk-b", "q3", b.ts(0.095)),
        ("desk-c", "q2", b.ts(0.09)),
    ]
    # with the values of the window's end (F = 62000 for C60)
    alone, _ = run([*SETUP, b.quote_opt("q2", 0.09, "C60", 62000, 0.6)], EngineConfig(
        emit_interval_ms=0))
    assert out[0]["delta"] == alone.exposures(b.parse(b.ts(0.09)))[0].delta


def test_exposures_at_a_close_come_in_sorted_key_order_with_their_checks() -> None:
    records = [*SETUP, b.limits("lim", 0.04, book="desk-a", max_abs_delta=1.1)]
    engine, _ = run(records)
    assert engine.handle(b.quote_opt("q1", 0.2, "C60", 70000, 0.6), "x") == []
    out = engine.handle(b.index("x1", 0.35, 61000), "x")  # closes [200, 300) ms
    checked = [o for o in out if o.type in ("exposure", "breach")]
    kinds = [(o.type, o.book) for o in checked]
    assert kinds == [("exposure", "desk-a"), ("breach", "desk-a"), ("exposure", "desk-c")]
    assert checked[1].caused_by == "q1" and checked[1].ts == checked[0].ts


def test_book_records_emit_at_once_and_clear_the_dirty_mark() -> None:
    engine, _ = run(SETUP)
    assert emitted(engine, b.quote_opt("q1", 0.05, "C60", 61000, 0.6)) == []
    now = emitted(engine, b.trade("t2", 0.06, "C60", "buy", 1, book="desk-a"))
    assert [(r["book"], r["caused_by"]) for r in now] == [("desk-a", "t2")]
    closed = emitted(engine, b.tick("tick1", 0.1))
    assert [(r["book"], r["caused_by"]) for r in closed] == [("desk-c", "q1")]


def test_limits_and_margin_emit_their_dirty_key_at_once() -> None:
    engine, _ = run(SETUP)
    engine.handle(b.quote_opt("q1", 0.05, "C60", 61000, 0.6), "x")
    out = emitted(engine, b.limits("lim", 0.06, book="desk-a", max_abs_delta=100))
    assert [(r["book"], r["caused_by"]) for r in out] == [("desk-a", "lim")]
    out = emitted(engine, b.rec("margin", "m1", 0.07, book="desk-c", underlying="BTC",
                                equity=1e6, maintenance_margin=1e5))
    assert [(r["book"], r["caused_by"]) for r in out] == [("desk-c", "m1")]
    assert emitted(engine, b.tick("tick1", 0.2)) == []


def test_a_tick_changes_no_state_and_closes_the_window_it_moves_past() -> None:
    engine, _ = run(SETUP)
    engine.handle(b.quote_opt("q1", 0.05, "C60", 61000, 0.6), "x")
    state = engine.snapshot()
    assert engine.handle(b.tick("tick0", 0.099), "x") == []  # same window
    assert len(emitted(engine, b.tick("tick1", 0.1))) == 2  # exposures (pnl apart)
    assert engine.handle(b.tick("tick2", 5.0), "x") == []  # nothing dirty
    again = Engine(E100)
    again.restore(state)
    assert again.handle(b.tick("tick0", 0.099), "x") == []


def test_end_of_input_closes_the_open_window(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "day.jsonl"
    path.write_bytes(b"\n".join([*SETUP, b.quote_opt("q1", 0.05, "C60", 61000, 0.6)]))
    engine, _ = run([*SETUP, b.quote_opt("q1", 0.05, "C60", 61000, 0.6)])
    closing = engine.flush()
    assert [(o.type, o.caused_by) for o in closing if o.type == "exposure"] == [
        ("exposure", "q1"), ("exposure", "q1")]
    assert engine.flush() == []
    from greekstream.runtime.replay import read_records
    result = replay(read_records(path), config=E100)
    tail = [encode(o) for o in result.outputs][-len(closing):]
    assert tail == [encode(o) for o in closing]


def test_emit_interval_0_emits_after_every_record() -> None:
    engine, _ = run(SETUP, EngineConfig(emit_interval_ms=0))
    assert len(emitted(engine, b.quote_opt("q1", 0.05, "C60", 61000, 0.6))) == 2
    assert engine.flush() == []


def test_at_most_one_risk_matrix_per_key_per_window() -> None:
    engine, _ = run(SETUP)
    out = []
    for i in range(5):  # each trade alone would re-emit the matrix (a material change)
        out += engine.handle(b.trade(f"big{i}", 0.2 + i * 0.01, "C60", "buy", 50), "x")
    assert sum(o.type == "risk_matrix" for o in out) == 1
    later = engine.handle(b.trade("big9", 0.31, "C60", "buy", 50), "x")
    assert sum(o.type == "risk_matrix" for o in later) == 1
    v1, _ = run(SETUP, EngineConfig(emit_interval_ms=0))
    v1_out = [o for i in range(5)
              for o in v1.handle(b.trade(f"big{i}", 0.2 + i * 0.01, "C60", "buy", 50), "x")]
    assert sum(o.type == "risk_matrix" for o in v1_out) > 1


# ----------------------------------------------------------------------------- properties

IDS = ["C60", "P55", "BTC-PERPETUAL"]


@st.composite
def dense_streams(draw: st.DrawFn) -> list[bytes]:
    """Records a few ms apart (many per window), every kind the windows treat apart."""
    out = list(SETUP)
    t = 0.05
    for i in range(draw(st.integers(5, 50))):
        t += draw(st.sampled_from([0.0, 0.001, 0.02, 0.07, 0.15, 2.0, 61.0]))
        kind = draw(st.sampled_from(["quote", "quote", "quote", "trade", "index", "tick",
                                     "limits", "coll", "late", "bad", "dup"]))
        iid = draw(st.sampled_from(IDS))
        book = draw(st.sampled_from(["desk-a", "desk-b", "desk-c"]))
        if kind == "quote" and iid == "BTC-PERPETUAL":
            out.append(b.quote_mark(f"q{i}", t, iid, draw(st.floats(50000, 70000))))
        elif kind == "quote":
            out.append(b.quote_opt(f"q{i}", t, iid, draw(st.floats(50000, 70000)),
                                   draw(st.floats(0.3, 1.2))))
        elif kind == "trade":
            out.append(b.trade(f"t{i}", t, iid, draw(st.sampled_from(["buy", "sell"])),
                               draw(st.floats(0.1, 30)), book=book))
        elif kind == "index":
            out.append(b.index(f"x{i}", t, draw(st.floats(50000, 70000))))
        elif kind == "tick":
            out.append(b.tick(f"k{i}", t))
        elif kind == "limits":
            out.append(b.limits(f"l{i}", t, book=book, max_abs_delta=draw(st.floats(0.5, 5)),
                                hedge_instrument="BTC-PERPETUAL", hedge_band=1.0))
        elif kind == "coll":
            out.append(b.rec("collateral", f"c{i}", t, book=book, asset="BTC",
                             amount=draw(st.floats(-2, 2))))
        elif kind == "late":  # an earlier window's quote
            out.append(b.quote_opt(f"late{i}", max(t - 0.3, 0.0), "C60", 60000, 0.5))
        elif kind == "bad":
            out.append(b"{not json" if draw(st.booleans()) else b.trade(f"b{i}", t, "NOPE",
                                                                          "buy", 1))
        else:
            out.append(out[draw(st.integers(0, len(out) - 1))])
    return out


WINDOWS = st.sampled_from([0, 1, 100, 1000])
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one_by_one(records: list[bytes], config: EngineConfig) -> list[bytes]:
    engine = Engine(config)
    out = [encode(o) for i, raw in enumerate(records) for o in engine.handle(raw, f"s:{i}")]
    return out + [encode(o) for o in engine.flush()]


@PROPS
@given(dense_streams(), WINDOWS, st.data())
def test_apply_batch_equals_one_by_one(records: list[bytes], emit_ms: int,
                                       data: st.DataObject) -> None:
    config = EngineConfig(emit_interval_ms=emit_ms, windows_per_book=data.draw(st.booleans()))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(records)), max_size=6)))
    engine = Engine(config)
    got: list[bytes] = []
    for lo, hi in zip([0, *cuts], [*cuts, len(records)], strict=True):
        batch = [(raw, f"s:{i}") for i, raw in enumerate(records[lo:hi], start=lo)]
        got += [encode(o) for o in engine.apply_batch(batch)]
    got += [encode(o) for o in engine.flush()]
    assert got == one_by_one(records, config)


@PROPS
@given(dense_streams(), WINDOWS, st.data())
def test_restore_mid_window_equals_a_straight_run(records: list[bytes], emit_ms: int,
                                                  data: st.DataObject) -> None:
    """A snapshot taken anywhere (mid-window: dirty keys, the open window, a matrix
    already sent in it, a book's own window ahead of the market's) continues byte for
    byte."""
    config = EngineConfig(emit_interval_ms=emit_ms, windows_per_book=data.draw(st.booleans()))
    cut = data.draw(st.integers(0, len(records)))
    first = Engine(config)
    got = [encode(o) for i, raw in enumerate(records[:cut]) for o in first.handle(raw, f"s:{i}")]
    restored = Engine(config)
    restored.restore(first.snapshot())
    assert restored.snapshot() == first.snapshot()
    got += [encode(o) for i, raw in enumerate(records[cut:], start=cut)
            for o in restored.handle(raw, f"s:{i}")]
    got += [encode(o) for o in restored.flush()]
    assert got == one_by_one(records, config)


@PROPS
@given(dense_streams(), WINDOWS)
def test_windowed_replay_is_deterministic_and_one_exposure_per_key_per_close(
        records: list[bytes], emit_ms: int) -> None:
    config = EngineConfig(emit_interval_ms=emit_ms)
    first = one_by_one(records, config)
    assert first == one_by_one(records, config)
    engine = Engine(config)
    for i, raw in enumerate(records):
        out = engine.handle(raw, f"s:{i}")
        own = orjson.loads(raw)["event_id"] if raw.startswith(b"{\"") else None
        # what a window's close emitted (exposures of earlier records): one per key, sorted
        closing = [(o.book, o.underlying) for o in out
                   if o.type == "exposure" and o.caused_by != own]
        assert closing == sorted(set(closing))
        assert not closing or emit_ms > 0
    assert not engine.state.dirty or emit_ms > 0
    engine.flush()
    assert not engine.state.dirty


def test_windows_per_book_a_book_record_closes_its_own_book_only() -> None:
    """A processor's windows (docs/streaming.md, *Emission windows across instances*): a
    book record past the window closes that book's keys only; the other books' close
    at the next record their owner sees (a market record), with the same values and
    cause; a book whose own record opened a later window stays open until it ends."""
    def closes(out: list[Any]) -> list[tuple[str, str]]:
        return [(o.book, o.caused_by) for o in out if o.type == "exposure"]

    q1 = b.quote_opt("q1", 0.05, "C60", 60100, 0.6)  # dirties desk-a and desk-c (C60)
    t_a2 = b.trade("t-a2", 0.15, "P55", "buy", 1, book="desk-a")
    q2 = b.quote_opt("q2", 0.12, "P55", 60000, 0.72)  # a market record in the market's
    # window [100, 200) ms after desk-a's trade opened desk-a's own [100, 200)
    late = b.quote_opt("q1b", 0.09, "C60", 60150, 0.6)  # before the market's window ends
    engine, _ = run([*SETUP, q1], EngineConfig(emit_interval_ms=100, windows_per_book=True))
    assert closes(engine.handle(t_a2, "x")) == [("desk-a", "q1"), ("desk-a", "t-a2")]
    assert closes(engine.handle(late, "x")) == []
    assert closes(engine.handle(q2, "x")) == [("desk-c", "q1b")]  # desk-a's is still open
    assert sorted(engine.state.dirty.dict()) == [("desk-a", "BTC"), ("desk-b", "BTC")]
    assert closes(engine.handle(b.tick("k", 0.2), "x")) == [("desk-a", "q2"), ("desk-b", "q2")]

    # one window for all (a file): the trade closes every dirty key
    engine, _ = run([*SETUP, q1])
    assert closes(engine.handle(t_a2, "x")) == [("desk-a", "q1"), ("desk-c", "q1"),
                                               ("desk-a", "t-a2")]
    assert closes(engine.handle(late, "x")) == []
    assert closes(engine.handle(q2, "x")) == []  # the window is [100, 200) for all


@pytest.mark.parametrize("per_book", [False, True])
def test_a_book_with_only_a_margin_keeps_its_ids_across_a_restore(per_book: bool) -> None:
    """A checkpoint kept the seen ids of books with a position or limits only: a margin
    of a book with neither, redelivered after a restore, was applied again and emitted
    the book's dirty key at once, an output a straight run never produces (helper 37)."""
    margin = b.rec("margin", "pm1", 0.0, book="desk-z", underlying="BTC", equity=1e6,
                   maintenance_margin=1e5)
    stream = [margin, *SETUP, b.trade("t-z", 0.04, "C60", "buy", 1, book="desk-z"),
              b.quote_opt("q1", 0.05, "C60", 61000, 0.6), margin, b.tick("end", 1.0)]
    config = EngineConfig(emit_interval_ms=100, windows_per_book=per_book)

    def outputs(restore_after: int | None) -> list[bytes]:
        engine, out = Engine(config), []
        for i, raw in enumerate(stream):
            if i == restore_after:
                restored = Engine(config)
                restored.restore(engine.snapshot())
                engine = restored
            out += [encode(o) for o in engine.handle(raw, f"s:{i}")]
        return out

    assert outputs(restore_after=1) == outputs(restore_after=None)


# A late market record dirtying desk-a after desk-a's own trade opened [100, 200) ms while
# the market's window is [0, 100): the cases that pin down the per-book rules (helper 37).
PER_BOOK = EngineConfig(emit_interval_ms=100, windows_per_book=True)
AHEAD = [*SETUP,
         b.quote_opt("q1", 0.05, "C60", 61000, 0.6),  # the market's window ends at 100 ms
         b.trade("t-a2", 0.15, "C60", "buy", 1, book="desk-a"),  # desk-a's ends at 200 ms
         b.index("x-late", 0.06, 60500)]  # late: dirties desk-a, -b, -c


def _closes(out: list[Any]) -> list[tuple[str, str]]:
    return [(o.book, o.caused_by) for o in out if o.type == "exposure"]


def test_a_books_own_window_survives_a_checkpoint() -> None:
    """A restore between the late record and a market record inside desk-a's window: the
    restored engine still holds desk-a's window open (its end is in the snapshot)."""
    stream = [*AHEAD, b.quote_opt("q2", 0.12, "P55", 61000, 0.7), b.tick("k", 0.25)]
    _engine, straight = run(stream, PER_BOOK)
    first, _ = run(AHEAD, PER_BOOK)
    restored = Engine(PER_BOOK)
    restored.restore(first.snapshot())
    by_q2 = restored.handle(stream[len(AHEAD)], "r:0")
    assert _closes(by_q2) == [("desk-b", "x-late"), ("desk-c", "x-late")]  # desk-a held
    rest = by_q2 + restored.handle(stream[-1], "r:1")
    tail = straight[len(straight) - len(rest):]
    assert [encode(o) for o in rest] == [encode(o) for o in tail]


def test_a_market_record_past_a_books_own_window_closes_it() -> None:
    engine, _ = run(AHEAD, PER_BOOK)
    assert _closes(engine.handle(b.quote_opt("q3", 0.25, "P55", 61000, 0.7), "x")) == [
        ("desk-a", "x-late"), ("desk-b", "x-late"), ("desk-c", "x-late")]


def test_a_books_record_inside_its_own_window_closes_nothing() -> None:
    engine, _ = run(AHEAD, PER_BOOK)
    assert _closes(engine.handle(b.trade("t-a3", 0.16, "C60", "buy", 1, book="desk-a"),
                                 "x")) == [("desk-a", "t-a3")]
    # and a market record inside it closes the others, not desk-a
    assert _closes(engine.handle(b.quote_opt("q2", 0.12, "P55", 61000, 0.7), "x")) == [
        ("desk-b", "x-late"), ("desk-c", "x-late")]
