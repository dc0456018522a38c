"""SPEC v2 "Mark-to-market P&L" and "Funding of perpetuals" through the engine, by hand:
an inverse perpetual's harmonic average entry, its unrealized P&L q·cs·(1/A − 1/M)·M,
funding −q·cs·rate at each holder, and funding_usd_per_day = Σ last rate × 24/interval_h
applied to the current position (interval_h 8 and 4)."""

from __future__ import annotations

import pytest

from greekstream.core.engine import Engine
from tests.unit import builders as b

pytestmark = pytest.mark.timeout(60)


def test_inverse_perpetuals_by_hand() -> None:
    engine = Engine()
    out = []
    for i, raw in enumerate([
        b.perp("P8", settlement="inverse", size=10.0),
        b.rec("instrument", "def-P4", 0, instrument_id="P4", kind="perpetual",
              underlying="BTC", settlement="inverse", contract_size=10.0, interval_h=4),
        b.index("x", 1, 50000.0),
        b.quote_mark("m8", 1, "P8", 50000.0),
        b.quote_mark("m4", 1, "P4", 50000.0),
        b.trade("t1", 2, "P8", "buy", 100, price=50000.0),
        b.trade("t2", 3, "P8", "buy", 100, price=40000.0, fee=0.5),
        b.trade("t3", 3.5, "P4", "sell", 100, price=50000.0),
        b.funding("f8", 4, "P8", 0.0001),
        b.funding("f4", 4, "P4", 0.0002),
        b.quote_mark("m8b", 5, "P8", 45000.0),
        b.quote_mark("m4b", 5, "P4", 45000.0),
    ]):
        out += engine.handle(raw, f"f:{i}")
    out += engine.flush()
    lots = engine.pnl.lots[("desk-a", "BTC")]
    # harmonic: 1/A = (100/50000 + 100/40000)/200
    assert lots["P8"].avg == pytest.approx(200 / (100 / 50000 + 100 / 40000), rel=1e-15)
    a = lots["P8"].avg
    last = [o for o in out if o.type == "pnl"][-1]
    u8 = 200 * 10.0 * (1 / a - 1 / 45000.0) * 45000.0  # 25
    u4 = -100 * 10.0 * (1 / 50000.0 - 1 / 45000.0) * 45000.0  # 100
    assert last.unrealized_usd == pytest.approx(u8 + u4, rel=1e-12)
    f8, f4 = -200 * 10.0 * 0.0001, 100 * 10.0 * 0.0002  # −0.2 paid, +0.2 received
    assert last.funding_usd == pytest.approx(f8 + f4, abs=1e-15)
    assert last.fees_usd == 0.5 and last.realized_usd == 0.0
    assert last.total_usd == pytest.approx(u8 + u4 + f8 + f4 - 0.5, rel=1e-12)
    exposure = [o for o in out if o.type == "exposure"][-1]
    assert exposure.funding_usd_per_day == pytest.approx(f8 * 24 / 8 + f4 * 24 / 4, rel=1e-12)
