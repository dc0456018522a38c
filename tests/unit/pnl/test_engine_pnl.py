"""The engine's `pnl` outputs and as-of P&L: a hand-worked linear perpetual with a fee and
funding, an expired option at intrinsic, the exposure's funding_usd_per_day, rejections."""

from __future__ import annotations

import pytest

from greekstream.core.engine import Engine
from greekstream.core.timeutil import parse_ts
from tests.unit import builders as b

pytestmark = pytest.mark.timeout(60)

PERP = "BTC-USDC-PERP"


def feed(engine: Engine, *records: bytes) -> list:  # type: ignore[type-arg]
    """The records as one finite input: its end closes the emission window."""
    out = []
    for i, raw in enumerate(records):
        out.extend(engine.handle(raw, f"t:{i}"))
    return out + engine.flush()


def test_linear_perpetual_fee_funding_and_mark_by_hand() -> None:
    engine = Engine()
    out = feed(
        engine,
        b.perp(PERP, settlement="linear", size=0.001),
        b.index("x1", 1, 50000.0),
        b.quote_mark("q1", 1, PERP, 50000.0),
        b.trade("t1", 2, PERP, "buy", 1000, price=50000.0, fee=2.0),
        b.funding("f1", 3, PERP, 0.0001),  # a long pays 1000·0.001·50000·0.0001 = 5
        b.quote_mark("q2", 4, PERP, 51000.0),  # U = 1000·0.001·1000 = 1000
    )
    pnl = [o for o in out if o.type == "pnl"]
    assert [p.caused_by for p in pnl] == ["t1", "f1", "q2"]
    assert [p.total_usd for p in pnl] == pytest.approx([-2.0, -7.0, 993.0], rel=1e-12)
    last = pnl[-1]
    assert (last.realized_usd, last.fees_usd) == (0.0, 2.0)
    assert last.funding_usd == pytest.approx(-5.0, rel=1e-12)
    assert last.unrealized_usd == pytest.approx(1000.0, rel=1e-12)
    exposure = [o for o in out if o.type == "exposure"][-1]
    # the last rate, 3 periods a day, on 1 coin at 51000: −15.3 USD a day
    assert exposure.funding_usd_per_day == pytest.approx(-15.3, rel=1e-12)
    row = engine.exposures(parse_ts(b.ts(4)))[0]
    assert row.pnl == pytest.approx(
        {"realized_usd": 0.0, "unrealized_usd": 1000.0, "fees_usd": 2.0,
         "funding_usd": -5.0, "total_usd": 993.0}, rel=1e-12)


def test_expired_option_is_worth_intrinsic_on_the_last_forward_before_expiry() -> None:
    engine = Engine()
    expiry = b.ts(100)
    feed(
        engine,
        b.option("C", 50000.0, settlement="linear", expiry=expiry, size=0.1),
        b.index("x1", 1, 50000.0),
        b.quote_opt("q1", 1, "C", 50000.0, 0.5),
        b.trade("t1", 2, "C", "buy", 10, price=100.0),
        b.quote_opt("q2", 99, "C", 52000.0, 0.5),
        b.quote_opt("q3", 150, "C", 60000.0, 0.5),  # after expiry: not the settlement
    )
    pnl = engine.pnl_as_of(("desk-a", "BTC"), parse_ts(b.ts(200)))
    # 10 × 0.1 coin, intrinsic 2000 against an entry of 100: 1900
    assert pnl.unrealized_usd == pytest.approx(1900.0, rel=1e-12)


def test_funding_of_a_future_or_an_unmarked_linear_perpetual_is_rejected() -> None:
    engine = Engine()
    out = feed(
        engine,
        b.perp(PERP, settlement="linear", size=0.001),
        b.rec("instrument", "def-F", 0, instrument_id="F", kind="future", underlying="BTC",
              settlement="linear", contract_size=1, expiry="2026-06-26T08:00:00Z"),
        b.funding("f1", 1, "F", 0.0001),
        b.funding("f2", 2, PERP, 0.0001),
        b.funding("f3", 3, "NOPE", 0.0001),
    )
    assert [(o.type, o.reason) for o in out] == [
        ("rejected", "inconsistent_event"), ("rejected", "missing_quote_field"),
        ("rejected", "unknown_instrument")]
    assert engine.pnl.rates == {}


def test_a_short_inverse_perpetual_receives_funding_on_a_positive_rate() -> None:
    engine = Engine()
    out = feed(
        engine,
        b.perp("P", settlement="inverse", size=10.0),
        b.index("x1", 1, 40000.0),
        b.quote_mark("q1", 1, "P", 40000.0),
        b.trade("t1", 2, "P", "sell", 500, price=40000.0),
        b.funding("f1", 3, "P", 0.0002),  # the short receives 500·10·0.0002 = 1 USD
    )
    last = [o for o in out if o.type == "pnl"][-1]
    assert last.funding_usd == pytest.approx(1.0, rel=1e-12)
    exposure = [o for o in out if o.type == "exposure"][-1]
    assert exposure.funding_usd_per_day == pytest.approx(3.0, rel=1e-12)


def test_a_time_shift_accrues_the_funding_periods_it_spans() -> None:
    """SPEC v2: a scenario with time_shift_h h includes h/interval_h periods of the last
    rate (linear: at the shocked mark)."""
    import numpy as np

    from greekstream.core.scenarios import pnl

    engine = Engine()
    feed(
        engine,
        b.perp(PERP, settlement="linear", size=0.001),
        b.rec("instrument", "def-P", 0, instrument_id="P", kind="perpetual", underlying="BTC",
              settlement="inverse", contract_size=10.0, interval_h=4),
        b.index("x1", 1, 50000.0),
        b.quote_mark("q1", 1, PERP, 50000.0),
        b.quote_mark("q2", 1, "P", 50000.0),
        b.trade("t1", 2, PERP, "buy", 1000, price=50000.0),
        b.trade("t2", 2, "P", "sell", 500, price=50000.0),
        b.funding("f1", 3, PERP, 0.0001),
        b.funding("f2", 3, "P", 0.0002),
    )
    (s,) = engine.slices(parse_ts(b.ts(3)))
    got = pnl(s, np.array([0.0, 0.1, 0.0]), np.zeros(3), np.array([0.0, 24.0, 8.0]))
    # inverse price P&L at +10%: −5000·(1/50000 − 1/55000)·55000 = −500
    long_funding = -1.0 * 55000.0 * 0.0001 * 3  # three 8-hour periods at the shocked mark
    short_funding = 500 * 10.0 * 0.0002 * 6  # six 4-hour periods received
    assert got[0] == 0.0
    assert got[1] == pytest.approx(5000.0 - 500.0 + long_funding + short_funding, rel=1e-12)
    assert got[2] == pytest.approx(-50000.0 * 0.0001 + 500 * 10.0 * 0.0002 * 2, rel=1e-12)
