"""Boundary of the dedup window (core/dedup.py ``SeenIds``), through Engine.handle.

docs/streaming.md, *Bounded state*: ids "older than the scope's clock minus the window
no longer count and are dropped. An event older than that is rejected as
`late_event`". So an id whose ts is exactly clock − window still counts (a redelivery
of it is a duplicate, not applied twice) and is not late; one microsecond older is."""

from __future__ import annotations

import orjson

from greekstream.core.engine import Engine, EngineConfig
from tests.unit import builders as b

CALL = "C60"
WINDOW = 3600.0


def engine_with_market() -> Engine:
    engine = Engine(EngineConfig(dedup_window_s=WINDOW))
    for i, raw in enumerate([b.option(CALL, 60000), b.index("x0", 1, 61000),
                             b.quote_opt("q0", 2, CALL, 61200, 0.62)]):
        assert all(o.type != "rejected" for o in engine.handle(raw, f"setup:{i}"))
    return engine


def position(engine: Engine) -> float:
    doc = orjson.loads(engine.snapshot())
    return float(doc["books"][0]["positions"][CALL])


def test_a_redelivery_exactly_at_the_window_edge_is_a_duplicate() -> None:
    engine = engine_with_market()
    engine.handle(b.trade("t1", 10, CALL, "buy", 1), "s")
    engine.handle(b.index("x1", 10 + WINDOW, 61000), "s")  # clock − window = t1's ts
    assert engine.handle(b.trade("t1", 10, CALL, "buy", 1), "s") == []
    assert engine.duplicates == 1 and position(engine) == 1.0


def test_the_edge_id_survives_the_pruning_a_later_id_of_its_scope_causes() -> None:
    engine = engine_with_market()
    engine.handle(b.trade("t1", 10, CALL, "buy", 1), "s")
    engine.handle(b.index("x1", 10 + WINDOW, 61000), "s")
    engine.handle(b.trade("t2", 10 + WINDOW, CALL, "buy", 1), "s")  # prunes the book's ids
    assert engine.handle(b.trade("t1", 10, CALL, "buy", 1), "s") == []
    assert engine.duplicates == 1 and position(engine) == 2.0
    assert "t1" in [eid for _ts, eid in orjson.loads(engine.snapshot())["seen"]["desk-a"]]


def test_one_microsecond_past_the_edge_is_late() -> None:
    engine = engine_with_market()
    engine.handle(b.trade("t1", 10, CALL, "buy", 1), "s")
    engine.handle(b.index("x1", 10 + WINDOW + 0.000001, 61000), "s")
    (late,) = engine.handle(b.trade("t1", 10, CALL, "buy", 1), "s")
    assert late.type == "rejected" and late.reason == "late_event"
    assert position(engine) == 1.0
