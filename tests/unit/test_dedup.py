"""Bounded dedup (core/dedup.py): ids kept for dedup_window_s of event time, late events
rejected, quotes deduplicated by the quote in force, snapshot size flat under a quote storm."""

from __future__ import annotations

import orjson

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import decode_event, encode
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
    for i in range(50):  # (the window is counted from the market's clock: it moves too)
        engine.handle(b.index(f"x{i}", 10 + i * 600, 61000), "s")
        engine.handle(b.trade(f"t{i}", 10 + i * 600, CALL, "buy", 1), "s")
    doc = orjson.loads(engine.snapshot())
    kept = doc["seen"]["desk-a"]
    assert 5 <= len(kept) <= 7  # one hour of trades every 10 minutes
    assert engine.seen.size() <= 2 * 7 + 2  # an hour of index ids and trade ids
    assert len(doc["market"]["seen"]) <= 7 + 2


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


DAY = 24 * HOUR


def test_a_book_record_dated_days_ahead_makes_no_other_record_late() -> None:
    """A mistyped day on a trade (inside max_ts_ahead_s, so applied): had it moved the
    clock lateness is counted from, every later record, the market's included, would be
    `late_event` for a day. Market records are judged against the market's clock, and a
    book's records against it too (once there is one): the other records go on."""
    engine = engine_with_market()
    assert [o.type for o in engine.handle(b.trade("typo", 2 * DAY, CALL, "buy", 1), "s")
            if o.type == "rejected"] == []
    later = [b.index("x1", 20, 61000), b.quote_opt("q1", 21, CALL, 61300, 0.6),
             b.trade("t-b", 22, CALL, "buy", 1, book="desk-b"),
             b.trade("t-a", 23, CALL, "sell", 1)]  # the typo's own book, to reverse it
    for raw in later:
        assert [o.reason for o in engine.handle(raw, "s") if o.type == "rejected"] == []
    doc = orjson.loads(engine.snapshot())
    positions = {br["book"]: br["positions"] for br in doc["books"]}
    assert positions == {"desk-a": {CALL: 2.0}, "desk-b": {CALL: 1.0}}
    # still a day's window from the market's clock: a record 25 h behind it is late
    engine.handle(b.index("x2", 25 * HOUR + 30, 61000), "s")
    (late,) = engine.handle(b.trade("t-old", 24, CALL, "buy", 1, book="desk-b"), "s")
    assert late.reason == "late_event" and "market" in late.detail


def test_lateness_does_not_depend_on_the_other_books_an_engine_holds() -> None:
    """A processor instance holds only its own books: whether a record is late (and so
    its outputs) must not depend on which other books it holds. desk-a's records dated
    30 h ahead leave desk-b's outputs the same with desk-a or without it, emission at
    once (E = 0) and per window alike, and so are the snapshots of desk-b's ids."""
    def book_b(with_a: bool, config: EngineConfig) -> tuple[list[object], list[object]]:
        engine = engine_with_market(config)
        records = [b.trade("a1", 30 * HOUR, CALL, "buy", 1),
                   b.trade("b1", 40, CALL, "buy", 1, book="desk-b"),
                   b.quote_opt("q1", 50, CALL, 61500, 0.61),
                   b.trade("a2", 31 * HOUR, CALL, "buy", 1),
                   b.trade("b2", 60, CALL, "sell", 2, book="desk-b"),
                   b.trade("b1", 70, CALL, "buy", 1, book="desk-b")]  # a redelivery
        outs = []
        for raw in records:
            if with_a or b'"desk-a"' not in raw:
                outs += engine.handle(raw, "s")
        outs += engine.flush()
        mine: list[object] = [encode(o) for o in outs if getattr(o, "book", None) == "desk-b"]
        mine += [(o.reason, o.raw) for o in outs if o.type == "rejected" and "desk-b" in o.raw]
        seen = orjson.loads(engine.snapshot())["seen"]["desk-b"]
        return mine, seen
    # (a file replay's one window is the largest ts's, by the contract: a processor's
    # windows are per book, docs/streaming.md)
    for config in (EngineConfig(emit_interval_ms=0), EngineConfig(windows_per_book=True)):
        assert book_b(True, config) == book_b(False, config)
        assert len(book_b(True, config)[0]) >= 2


def test_before_any_market_record_a_book_counts_lateness_from_its_own_records() -> None:
    """No market clock yet: a book's records are judged against its own latest, the same
    after a restore (the book's clock is in its part of the snapshot), and another
    book's records are not."""
    def straight_and_restored() -> list[list[tuple[str, str]]]:
        runs = []
        for restore in (False, True):
            engine = Engine(EngineConfig(dedup_window_s=HOUR))
            for raw in (deposit("a1", 10), deposit("a2", 10 + 2 * HOUR)):
                assert all(o.type != "rejected" for o in engine.handle(raw, "s"))
            if restore:
                blob = engine.snapshot()
                engine = Engine(EngineConfig(dedup_window_s=HOUR))
                engine.restore(blob)
            outs = [o for raw in (deposit("a1", 10), deposit("a3", 20),
                                  deposit("b1", 20, "desk-b"))
                    for o in engine.handle(raw, "s")]
            runs.append([(o.reason, orjson.loads(o.raw)["event_id"]) for o in outs
                         if o.type == "rejected"])
        return runs
    def deposit(eid: str, at: float, book: str = "desk-a") -> bytes:
        return b.rec("collateral", eid, at, book=book, asset="BTC", amount=1.0)

    straight, restored = straight_and_restored()
    assert straight == restored == [("late_event", "a1"), ("late_event", "a3")]
