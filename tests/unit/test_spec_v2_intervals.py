"""Event-time intervals given in seconds are whole microseconds, rounded, not truncated:
8.2 s is 8,200,000 µs though 8.2 * 1e6 is 8199999.999999999 in floats. The risk, VaR and
full-revaluation ticks are epoch-aligned multiples of their interval (contract part 2:
``risk_matrix`` on market data only at the ``risk_interval_s`` ticks), and the dedup
window and the oracle's maximum age are the seconds configured."""

from __future__ import annotations

import pytest

from greekstream.core.dedup import SeenIds
from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.oracle import OracleConfig
from tests.unit import builders as b

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("seconds", [8.2, 1.005, 3e-6])
def test_intervals_are_the_seconds_configured_to_the_microsecond(seconds: float) -> None:
    us = round(seconds * 1_000_000)
    engine = Engine(EngineConfig(revaluation_interval_s=seconds, risk_interval_s=seconds))
    for i, raw in enumerate([b.option("C", 60000), b.index("x0", 1, 61000),
                             b.quote_opt("q0", 1, "C", 61200, 0.62)]):
        engine.handle(raw, f"s:{i}")
    at = b.parse(b.ts(1))
    assert engine.state.next_risk_us == (at // us + 1) * us
    assert engine.state.next_reval_us == (at // us + 1) * us
    assert SeenIds(seconds).window_us == us
    assert OracleConfig(0.01, seconds, 0.1).max_age_us == us
