"""Bounded dedup (core/dedup.py): ids kept for dedup_window_s of event time, late events
rejected, quotes deduplicated by the quote in force, snapshot size flat under a quote storm."""

from __future__ import annotations

import orjson

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import decode_event
from tests.unit import builders as b

CALL = "C60"
HOUR = 3600.0


def engine_with_market(config: EngineConfig | None = None) -> Engine:
    engine = Engine(config)
    for i, raw in enumerate([b.option(CALL, 60000), b.perp(), b.index("x0", 1, 61000),
                             b.quote_opt("q0", 2, CALL, 61200, 0.62),
                             b.quote_mark("m0", 2, "BTC-PERPETUAL", 61010),
                             b.trade("t0", 3, CALL, "buy", 2)]):
        assert all(o.type != "rejected" for o in engine.handle(raw, f"setup:{i}"))
    return engine


def test_a_duplicate_inside_the_window_has_no_effect() -> None:
    engine = engine_with_market()
    engine.handle(b.trade("t1", 10, CALL, "buy", 1), "s")
    before = orjson.loads(engine.snapshot())
    assert engine.handle(b.trade("t1", 10 + 23 * HOUR, CALL, "buy", 1), "s") == []
    # the re-sent record's own ts does not matter; the original's is within the window
    engine.handle(b.index("x-late-clock", 23 * HOUR, 61000), "s")
    assert engine.handle(b.trade("t1", 10, CALL, "buy", 1), "s") == []
    after = orjson.loads(engine.snapshot())
    assert after["books"][0]["positions"] == before["books"][0]["positions"] == {CALL: 3.0}
    assert engine.duplicates == 2


def test_an_event_older_than_the_window_is_late_and_changes_nothing() -> None:
    engine = engine_with_market()
    engine.handle(b.trade("t1", 10, CALL, "buy", 1), "s")
    engine.handle(b.index("x1", 10 + 25 * HOUR, 61000), "s")  # the clock moves 25 h on
    before = engine.snapshot()
    (late,) = engine.handle(b.trade("t1", 10, CALL, "buy", 1), "s")  # a duplicate, too late
    assert late.type == "rejected" and late.reason == "late_event"
    assert b.unchanged_but_rejection_chain(before, engine.snapshot(), [late])
    before = engine.snapshot()
    (fresh,) = engine.handle(b.trade("t-new", 11, CALL, "buy", 1), "s")
    assert fresh.reason == "late_event" and "dedup_window_s" in fresh.detail
    assert b.unchanged_but_rejection_chain(before, engine.snapshot(), [fresh])


def test_ids_older_than_the_window_are_forgotten_and_not_in_the_snapshot() -> None:
    engine = engine_with_market(EngineConfig(dedup_window_s=HOUR))
    for i in range(50):
        engine.handle(b.trade(f"t{i}", 10 + i * 600, CALL, "buy", 1), "s")
    doc = orjson.loads(engine.snapshot())
    kept = doc["seen"]["desk-a"]
    assert 5 <= len(kept) <= 7  # one hour of trades every 10 minutes
    assert engine.seen.size() <= 10


def test_quotes_are_deduplicated_by_the_quote_in_force() -> None:
    engine = engine_with_market(EngineConfig(emit_interval_ms=0))  # v1: emit at once
    out = engine.handle(b.quote_opt("q1", 20, CALL, 62000, 0.6), "s")
    assert out and out[0].type == "exposure"
    dup_before = engine.duplicates
    assert engine.handle(b.quote_opt("q1", 20, CALL, 62000, 0.6), "s") == []
    assert engine.duplicates == dup_before + 1
    engine.handle(b.quote_opt("q2", 30, CALL, 63000, 0.6), "s")
    state = engine.snapshot()
    # an older quote, re-sent or not, moves nothing: the one in force stays
    assert engine.handle(b.quote_opt("q1", 20, CALL, 62000, 0.6), "s") == []
    doc_before, doc_after = orjson.loads(state), orjson.loads(engine.snapshot())
    doc_before["market"].pop("late_quotes", None)
    doc_after["market"].pop("late_quotes", None)
    assert doc_after == doc_before


def test_a_quote_storm_leaves_the_snapshot_size_flat() -> None:
    """100k quotes after 10k: the snapshot does not grow with the number of quotes."""
    engine = engine_with_market()
    template = orjson.loads(b.quote_opt("q", 0, CALL, 61000, 0.6))
    start = decode_event(b.quote_opt("q", 0, CALL, 61000, 0.6)).ts

    def storm(first: int, n: int) -> None:
        for i in range(first, first + n):  # 10 quotes a second, alternating instruments
            ev = decode_event(orjson.dumps({**template, "event_id": f"q{i}",
                                            "underlying_price": 61000.0 + i % 50}))
            engine.apply(ev.model_copy(update={"ts": start + i * 100_000}), "storm")

    storm(0, 10_000)
    small = len(engine.snapshot())
    storm(10_000, 90_000)
    large = len(engine.snapshot())
    print(f"snapshot bytes after 10k quotes {small}, after 100k {large}")
    assert abs(large - small) <= 0.01 * small
