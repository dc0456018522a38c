"""Boundary of a breach's opening (core/engine.py ``is_breached``), through Engine.handle.

schemas/README.md, *Limits*: "`max_abs_*` are inclusive bounds (|x| > limit breaches);
`min_theta` breaches when theta < min_theta". A value exactly at its limit is inside it
and opens nothing; docs/contract.md, *Breach hysteresis*: an open breach clears only
once |value| < limit·(1 − h), so with h = 0 a value back exactly at the limit keeps it
open."""

from __future__ import annotations

from greekstream.core.engine import Engine
from greekstream.core.events import Breach, Exposure
from tests.unit import builders as b
from tests.unit.test_engine import CALL, base_engine, of, run

LPERP = "BTC-LPERP"


def linear_perp_engine() -> Engine:
    """A book whose delta is exactly its signed quantity: a linear perpetual, size 1."""
    engine = Engine()
    for i, raw in enumerate([
        b.rec("instrument", "def-lp", 0, instrument_id=LPERP, kind="perpetual",
              underlying="BTC", settlement="linear", contract_size=1.0),
        b.index("x0", 1, 61000),
        b.quote_mark("m0", 2, LPERP, 61000),
    ]):
        assert [o for o in engine.handle(raw, f"setup:{i}") if o.type == "rejected"] == []
    return engine


def test_a_delta_exactly_at_max_abs_delta_opens_no_breach() -> None:
    engine = linear_perp_engine()
    out = run(engine, b.limits("l1", 3, max_abs_delta=2.0, breach_hysteresis=0.0),
              b.trade("t1", 4, LPERP, "buy", 2))
    assert [e.delta for e in of(Exposure, out)][-1] == 2.0
    assert of(Breach, out) == []
    # the same on the short side: |−2| = 2 is at the limit, not over it
    out = run(engine, b.trade("t2", 5, LPERP, "sell", 4))
    assert [e.delta for e in of(Exposure, out)][-1] == -2.0
    assert of(Breach, out) == []
    # just over it opens
    out = run(engine, b.trade("t3", 6, LPERP, "sell", 0.5))
    assert [(x.metric, x.state) for x in of(Breach, out)] == [("delta", "open")]


def test_with_no_hysteresis_a_breach_back_exactly_at_the_limit_stays_open() -> None:
    engine = linear_perp_engine()
    out = run(engine, b.limits("l1", 3, max_abs_delta=2.0, breach_hysteresis=0.0),
              b.trade("t1", 4, LPERP, "buy", 3))
    assert [(x.metric, x.state) for x in of(Breach, out)] == [("delta", "open")]
    out = run(engine, b.trade("t2", 5, LPERP, "sell", 1))  # back to exactly 2.0
    assert [e.delta for e in of(Exposure, out)][-1] == 2.0
    assert of(Breach, out) == []  # not inside the limit yet (|value| < limit clears)
    out = run(engine, b.trade("t3", 6, LPERP, "sell", 0.5))
    assert [(x.metric, x.state) for x in of(Breach, out)] == [("delta", "cleared")]


def test_a_theta_exactly_at_min_theta_opens_no_breach() -> None:
    engine = base_engine()
    (exp,) = of(Exposure, run(engine, b.trade("t1", 4, CALL, "buy", 10)))
    theta = exp.theta
    assert theta < 0
    out = run(engine, b.limits("l1", 5, min_theta=theta, breach_hysteresis=0.0))
    assert of(Breach, out) == []
    out = run(engine, b.limits("l2", 6, min_theta=theta * 0.999, breach_hysteresis=0.0))
    assert [(x.metric, x.state) for x in of(Breach, out)] == [("theta", "open")]
