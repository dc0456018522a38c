"""Boundary of oracle divergence (core/oracle.py ``OracleState.status``), through
Engine.handle.

docs/onchain.md, *Divergence*: two sources diverge when their latest observations
"differ by more than `tolerance`" (relative difference |a − b| / min(a, b)); so a
spread exactly at `oracle_tolerance` is not a divergence, and a little more is."""

from __future__ import annotations

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import Breach, Exposure
from tests.unit import builders as b

LPERP = "BTC-LPERP"


def sourced_index(eid: str, at: float, price: float, source: str) -> bytes:
    return b.rec("index", eid, at, underlying="BTC", price=price, source=source)


def engine_holding_btc() -> Engine:
    engine = Engine(EngineConfig(oracle_tolerance=0.01, emit_interval_ms=0))
    for i, raw in enumerate([
        b.rec("instrument", "def-lp", 0, instrument_id=LPERP, kind="perpetual",
              underlying="BTC", settlement="linear", contract_size=1.0),
        sourced_index("a0", 1, 60000.0, "venue-a"),
        b.quote_mark("m0", 2, LPERP, 60000),
        b.trade("t1", 3, LPERP, "buy", 1),
    ]):
        assert [o for o in engine.handle(raw, f"setup:{i}") if o.type == "rejected"] == []
    return engine


def test_two_sources_exactly_tolerance_apart_do_not_diverge() -> None:
    engine = engine_holding_btc()
    assert (60600.0 - 60000.0) / 60000.0 == 0.01  # exactly the tolerance
    out = engine.handle(sourced_index("b0", 4, 60600.0, "venue-b"), "s") + engine.flush()
    exposures = [o for o in out if isinstance(o, Exposure)]
    assert exposures and not exposures[-1].oracle_divergence
    assert [o for o in out if isinstance(o, Breach)] == []


def test_a_spread_just_over_the_tolerance_diverges_and_opens_the_oracle_breach() -> None:
    engine = engine_holding_btc()
    out = engine.handle(sourced_index("b0", 4, 60601.0, "venue-b"), "s") + engine.flush()
    exposures = [o for o in out if isinstance(o, Exposure)]
    assert exposures and exposures[-1].oracle_divergence
    assert [(x.metric, x.state) for x in out if isinstance(x, Breach)] == [("oracle", "open")]


def test_a_second_source_exactly_tolerance_away_confirms_a_held_jump() -> None:
    """docs/onchain.md, *Trust*: a jump past `max_jump` is held until another source's
    latest observation is "within `tolerance`" of it: at exactly the tolerance it confirms
    (the price in force moves to the confirming observation), a little past it does not."""
    for price, confirmed in ((70700.0, True), (70701.0, False)):
        engine = engine_holding_btc()
        held = engine.handle(sourced_index("a1", 5, 70000.0, "venue-a"), "s")  # +16.7%
        assert engine.index_price("BTC") == 60000.0  # held: past oracle_max_jump (10%)
        out = held + engine.handle(sourced_index("b1", 6, price, "venue-b"), "s")
        out += engine.flush()
        assert (abs(70000.0 - price) / 70000.0 == 0.01) is confirmed  # exactly the tolerance
        in_force = price if confirmed else 60000.0
        assert engine.index_price("BTC") == in_force
        assert [x.delta_usd for x in out if isinstance(x, Exposure)][-1] == in_force
