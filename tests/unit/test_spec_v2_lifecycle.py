"""SPEC v2 conformance of the hedge intent lifecycle's timing: an intent expires at
``expires_at`` = ts + ``hedge_timeout_s`` exactly (to the microsecond), at a record dated
at it and not at one a microsecond before."""

from __future__ import annotations

import orjson
import pytest

from greekstream.core.events import HedgeIntent, IntentStatus
from greekstream.core.timeutil import format_ts
from tests.unit import builders as b
from tests.unit.test_engine import CALL, base_engine, of, run

pytestmark = pytest.mark.timeout(60)

def at(raw: bytes, ts_us: int) -> bytes:
    """The record dated at ``ts_us`` exactly."""
    event = orjson.loads(raw)
    event["ts"] = format_ts(ts_us)
    return orjson.dumps(event)


HEDGE = {"hedge_instrument": "BTC-PERPETUAL", "hedge_band": 1.0}


@pytest.mark.parametrize("timeout_s", [30.0, 8.2, 1.005, 0.57])
def test_expires_at_is_ts_plus_the_timeout_to_the_microsecond(timeout_s: float) -> None:
    engine = base_engine()
    out = run(engine, b.limits("l1", 4, hedge_timeout_s=timeout_s, **HEDGE),
              b.trade("t1", 5, CALL, "buy", 10))
    (intent,) = of(HedgeIntent, out)
    # 8.2 s is 8,200,000 µs, though 8.2 * 1e6 is 8199999.999999999 in floats
    assert intent.expires_at - intent.ts == round(timeout_s * 1_000_000)
    # a record one microsecond before expires_at: still pending
    out = run(engine, at(b.quote_mark("m0", 0, "BTC-PERPETUAL", 61010), intent.expires_at - 1))
    assert of(IntentStatus, out) == []
    # a record dated at expires_at: expired there
    out = run(engine, at(b.quote_mark("m1", 0, "BTC-PERPETUAL", 61010), intent.expires_at))
    (status,) = of(IntentStatus, out)
    assert (status.state, status.ts, status.caused_by) == ("expired", intent.expires_at, "m1")


def test_a_hedge_on_another_underlyings_instrument_is_filled_by_the_books_trade() -> None:
    """SPEC: an intent is ``filled`` when a trade of the book on the (hedge) instrument
    arrives. A (book, WBTC) hedged with the BTC perpetual: the book's trade on the
    perpetual belongs to its BTC key, and it still fills the WBTC key's intent (it was
    left pending and reported ``expired`` 30 s later, after the order had been done)."""
    engine = base_engine()
    out = run(
        engine,
        b.rec("instrument", "def-W", 0, instrument_id="WBTC-SPOT", kind="spot",
              underlying="WBTC", settlement="linear", contract_size=1.0),
        b.index("xw", 3, 61000, underlying="WBTC"),
        b.quote_mark("qw", 3, "WBTC-SPOT", 61000),
        b.rec("limits", "l1", 4, book="desk-a", underlying="WBTC", **HEDGE),
        b.trade("t1", 5, "WBTC-SPOT", "buy", 10, price=61000),
    )
    (intent,) = of(HedgeIntent, out)
    assert (intent.underlying, intent.instrument_id) == ("WBTC", "BTC-PERPETUAL")
    # another book's trade on it fills nothing
    out = run(engine, b.trade("o1", 6, "BTC-PERPETUAL", intent.side, 5, book="desk-z",
                              price=61000))
    assert of(IntentStatus, out) == []
    out = run(engine, b.trade("h1", 7, "BTC-PERPETUAL", intent.side, intent.quantity,
                              price=61000))
    (status,) = of(IntentStatus, out)
    assert (status.intent_id, status.state, status.caused_by) == (intent.intent_id, "filled",
                                                                  "h1")
    assert out.index(status) == 0  # before the trade's own exposure, as on its own key
    assert engine.books[("desk-a", "WBTC")].pending is None
    # closed once: nothing expires later
    out = run(engine, b.quote_mark("m9", 60, "BTC-PERPETUAL", 61010))
    assert of(IntentStatus, out) == []
