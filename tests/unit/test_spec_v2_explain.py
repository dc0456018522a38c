"""SPEC v2 "P&L explain" by hand: each component of one (book, underlying) from the T0
Greeks (QuantLib's Black-76 for the option), the inverse perpetual's USD delta, funding,
a new trade and the residual, against core/explain.explain_key."""

from __future__ import annotations

import math

import orjson
import pytest
import QuantLib as ql

from greekstream.core.explain import COMPONENTS, Held, Mark, WindowTrade, explain_key
from greekstream.core.timeutil import format_ts
from greekstream.core.valuation import InstrumentState

pytestmark = pytest.mark.timeout(60)

DAY_US = 86_400 * 1_000_000
T0 = 1_772_323_200 * 1_000_000  # 2026-03-01
T1 = T0 + 6 * 3_600 * 1_000_000  # six hours later
EXPIRY = T0 + 30 * DAY_US


def _black(f: float, k: float, t: float, s: float) -> ql.BlackCalculator:
    payoff = ql.PlainVanillaPayoff(ql.Option.Call, k)
    return ql.BlackCalculator(payoff, f, s * math.sqrt(t), 1.0)


def test_components_by_hand() -> None:
    call = InstrumentState("C", "option", "BTC", False, 0.1, EXPIRY, 60_000.0, True)
    perp = InstrumentState("P", "perpetual", "BTC", True, 10.0, None, None, False)
    f0, s0, f1, s1 = 60_000.0, 0.60, 61_000.0, 0.62
    m0, m1 = 60_100.0, 61_150.0
    q_call, q_perp, avg_perp = 3.0, -500.0, 59_000.0
    held = [Held(call, q_call, 1_000.0), Held(perp, q_perp, avg_perp)]
    marks0 = {"C": Mark(forward=f0, vol=s0), "P": Mark(mark=m0)}
    marks1 = {"C": Mark(forward=f1, vol=s1), "P": Mark(mark=m1)}
    trades = [WindowTrade(call, 1.0, 4_000.0, 1.5)]  # bought 1 more in the window, fee 1.5
    got = explain_key(held, marks0, marks1, trades, funding=-2.25, t0=T0, t1=T1)

    t0y = (EXPIRY - T0) / (365 * DAY_US)
    t1y = (EXPIRY - T1) / (365 * DAY_US)
    b0 = _black(f0, 60_000.0, t0y, s0)
    q = q_call * 0.1
    df, dv = f1 - f0, (s1 - s0) * 100.0
    # QuantLib has no vanna/volga: central bumps of its forward delta and vega in σ
    h = 1e-5 * s0
    up, down = _black(f0, 60_000.0, t0y, s0 + h), _black(f0, 60_000.0, t0y, s0 - h)
    vanna = (up.deltaForward() - down.deltaForward()) / (2 * h) / 100.0
    volga = (up.vega(t0y) - down.vega(t0y)) / (2 * h) / 100.0 / 100.0
    d1 = (math.log(f0 / 60_000.0) + s0 * s0 * t0y / 2) / (s0 * math.sqrt(t0y))
    pdf = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    theta_day = -f0 * pdf * s0 / (2 * math.sqrt(t0y)) / 365
    days = (T1 - T0) / DAY_US
    perp_delta = q_perp * 10.0 / avg_perp * (m1 - m0)  # d(USD value)/dM = q·cs/A
    want = {
        "delta": q * b0.deltaForward() * df + perp_delta,
        "gamma": 0.5 * q * b0.gammaForward() * df * df,
        "vega": q * b0.vega(t0y) / 100.0 * dv,
        "theta": q * theta_day * days,
        "vanna": q * vanna * df * dv,
        "volga": 0.5 * q * volga * dv * dv,
        "funding": -2.25,
    }
    v1 = _black(f1, 60_000.0, t1y, s1).value()
    want["new_trades"] = 1.0 * 0.1 * (v1 - 4_000.0) - 1.5
    revaluation = (q * (v1 - b0.value())
                   + q_perp * 10.0 * ((1 / avg_perp - 1 / m1) * m1 - (1 / avg_perp - 1 / m0) * m0))
    want["actual"] = revaluation - 2.25 + want["new_trades"]
    want["residual"] = want["actual"] - sum(want[c] for c in COMPONENTS[:-1])
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-6, abs=1e-6), name
    # the inverse perpetual's delta term is its USD P&L exactly (linear in the mark)
    assert perp_delta == pytest.approx(
        q_perp * 10.0 * ((1 / avg_perp - 1 / m1) * m1 - (1 / avg_perp - 1 / m0) * m0), rel=1e-12)


def _total_at(sourced: list[tuple[bytes, str]], at_us: int) -> float:
    """The (desk-a, BTC) total P&L as of ``at_us``: only the records at or before it."""
    from greekstream.core.engine import Engine

    engine = Engine()
    for raw, source in sourced:
        if orjson.loads(raw)["ts"] <= format_ts(at_us):
            engine.handle(raw, source)
    return engine.pnl_as_of(("desk-a", "BTC"), at_us).total_usd


def test_an_expired_position_without_a_quote_before_expiry_explains_nothing() -> None:
    """SPEC: an expired option is valued at intrinsic against the last forward *before*
    expiry (docs/pnl.md: quotes at or after expiry do not move it; without one the position
    is held at cost). Explain valued it on a forward quoted after expiry: `actual` 5,000
    while the book's P&L did not move (docs/pnl.md: for linear contracts `actual` is the
    change of total_usd)."""
    from greekstream.runtime.explain import explain_window
    from tests.unit import builders as b

    records = [b.option("C", 60000, settlement="linear", expiry=b.ts(100), size=1.0),
               b.index("x0", 1, 60000),
               b.trade("t1", 2, "C", "buy", 1, price=500.0),
               b.quote_opt("q1", 150, "C", 70000, 0.5),  # its first quote: after expiry
               b.quote_opt("q2", 250, "C", 75000, 0.5)]
    sourced = [(raw, f"f:{i}") for i, raw in enumerate(records)]
    t0, t1 = b.parse(b.ts(200)), b.parse(b.ts(300))
    (row,) = explain_window(sourced, t0, t1)
    assert _total_at(sourced, t1) - _total_at(sourced, t0) == 0.0
    assert row["actual"] == 0.0 and row["residual"] == 0.0
    # with a quote before expiry, the last one before it settles the option: intrinsic
    # on 61,000 (not on 75,000), U = 1,000 − 500 at T1
    records.insert(3, b.quote_opt("q0", 50, "C", 61000, 0.5))
    sourced = [(raw, f"f:{i}") for i, raw in enumerate(records)]
    t0 = b.parse(b.ts(60))
    (row,) = explain_window(sourced, t0, t1)
    assert _total_at(sourced, t1) == 1000.0 - 500.0
    moved = _total_at(sourced, t1) - _total_at(sourced, t0)
    assert row["actual"] == pytest.approx(moved, rel=1e-12)


def test_a_position_first_valued_in_the_window_explains_its_pnl() -> None:
    """A position held at cost at T0 (never quoted yet: U = 0 in the book's P&L) and valued
    in the window: explain left it out (`actual` 0) while total_usd moved by its whole
    unrealized P&L (docs/pnl.md: for linear contracts `actual` is the change of total_usd).
    It has no T0 Greeks, so all of it is residual."""
    from greekstream.runtime.explain import explain_window
    from tests.unit import builders as b

    records = [b.option("C", 60000, settlement="linear", size=1.0),
               b.perp("P", settlement="linear", size=0.01),
               b.index("x0", 1, 60000),
               b.trade("t1", 2, "C", "buy", 1, price=500.0),
               b.trade("t2", 3, "P", "sell", 100, price=60000.0),
               b.quote_opt("q1", 150, "C", 61000, 0.5),  # first quotes: in the window
               b.quote_mark("m1", 160, "P", 60500.0)]
    sourced = [(raw, f"f:{i}") for i, raw in enumerate(records)]
    t0, t1 = b.parse(b.ts(100)), b.parse(b.ts(200))
    (row,) = explain_window(sourced, t0, t1)
    assert _total_at(sourced, t0) == 0.0
    moved = _total_at(sourced, t1) - _total_at(sourced, t0)
    assert moved > 1000.0  # the call gained more than the short perpetual lost (500)
    assert row["actual"] == pytest.approx(moved, rel=1e-12)
    assert row["residual"] == row["actual"]
    assert all(row[c] == 0.0 for c in COMPONENTS[:-1])
