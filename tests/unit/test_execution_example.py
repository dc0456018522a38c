"""docs/examples/execution_consumer.py (shown in docs/execution.md) against the engine's
own intents and statuses: one order per intent, cancelled when it expires or is
superseded, left alone when filled, redeliveries and early statuses harmless."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from greekstream.core.events import encode
from tests.unit import builders as b
from tests.unit.test_engine import CALL, base_engine, run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "execution_consumer.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("execution_consumer", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _lifecycle() -> list:
    engine = base_engine()
    hedge = {"hedge_instrument": "BTC-PERPETUAL", "hedge_band": 1.0}
    out = run(engine, b.limits("l1", 4, **hedge), b.trade("t1", 5, CALL, "buy", 10))
    first = next(o for o in out if o.type == "hedge_intent")
    out += run(engine, b.trade("h1", 6, "BTC-PERPETUAL", first.side, first.quantity),
               b.trade("t2", 7, CALL, "buy", 10),
               b.quote_opt("q9", 60, CALL, 61200, 0.62),  # expires the second, a third
               b.limits("l2", 62, hedge_instrument="BTC-PERPETUAL", hedge_band=0.5))
    return [o for o in out if o.type in ("hedge_intent", "intent_status")]


def test_the_example_is_the_code_shown_in_the_docs() -> None:
    doc = (ROOT / "docs" / "execution.md").read_text()
    assert EXAMPLE.read_text().strip() in doc


def test_the_example_consumer_places_and_cancels_against_the_stub_venue() -> None:
    module = _example()
    events = _lifecycle()
    states = {o.intent_id: o.state for o in events if o.type == "intent_status"}
    assert sorted(states.values()) == ["expired", "filled", "superseded"]
    venue = module.StubVenue()
    executor = module.IntentExecutor(venue)
    for event in events:
        executor.handle(encode(event))
        executor.handle(encode(event))  # at-least-once delivery: every record twice
    intents = [o for o in events if o.type == "hedge_intent"]
    assert sorted(venue.orders) == sorted(o.intent_id for o in intents)
    for intent in intents:
        order = venue.orders[intent.intent_id]
        assert (order["side"], order["quantity"], order["limit"]) == (
            intent.side, intent.quantity, intent.limit_price)
        expected = {"filled": "open", None: "open"}.get(states.get(intent.intent_id),
                                                        "cancelled")
        assert order["state"] == expected, states.get(intent.intent_id)
    # a status read before its intent (another consumer's order of reading): never placed
    late = module.IntentExecutor(module.StubVenue())
    for event in sorted(events, key=lambda o: o.type != "intent_status"):
        late.handle(encode(event))
    assert set(late.venue.orders) == {o.intent_id for o in intents} - set(states)
