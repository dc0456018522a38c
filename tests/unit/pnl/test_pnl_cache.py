"""`PnlLedger.values` reuses sums and per-lot unrealized P&L between reports, and
`PnlLedger.live_values` (what the engine reports) computes them over columns (core/pnl.py).
The property: after every record of a random history (trades, quotes, funding, records
out of event-time order, expiry passing), every key's P&L and funding per day are
bit-identical to a ledger with the same lots that computes them from scratch."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.pnl import PnlLedger
from tests.unit import builders as b

PERP, PERP2, FUT, CALL, PUT, LONG = "BTC-PERP", "BTC-PERPETUAL", "BTC-FUT", "C", "P", "L"
SETUP = (
    b.perp(PERP, settlement="linear", size=0.001),
    b.perp(PERP2),
    b.rec("instrument", "i-fut", 0, instrument_id=FUT, kind="future", underlying="BTC",
          settlement="inverse", contract_size=10.0, expiry=b.ts(40)),
    b.option(CALL, 50000.0, settlement="linear", expiry=b.ts(30), size=0.1),
    b.option(PUT, 48000.0, kind="put", expiry=b.ts(60)),
    b.option(LONG, 52000.0, expiry=b.ts(3600)),  # live through the full revaluation at 60 s
    b.index("x0", 0, 50000.0),
)
IDS = (PERP, PERP2, FUT, CALL, PUT, LONG)
prices = st.floats(40000.0, 60000.0)
moment = st.integers(1, 80)
steps = st.lists(st.one_of(
    st.tuples(st.just("trade"), moment, st.sampled_from(IDS), st.sampled_from(["buy", "sell"]),
              st.integers(1, 5), prices, st.sampled_from(["desk-a", "desk-b"])),
    st.tuples(st.just("quote"), moment, st.sampled_from(IDS), prices, st.floats(0.2, 1.5)),
    st.tuples(st.just("funding"), moment, st.floats(-0.001, 0.001), st.sampled_from([PERP, PERP2])),
    st.tuples(st.just("index"), moment, prices),
), min_size=1, max_size=40)


def _record(i: int, step: tuple) -> bytes:  # type: ignore[type-arg]
    kind, at = step[0], step[1]
    if kind == "trade":
        _, _, iid, side, qty, price, book = step
        return b.trade(f"t{i}", at, iid, side, qty, price=price / 100.0 if iid in (CALL, PUT, LONG)
                       else price, book=book)
    if kind == "quote":
        _, _, iid, price, iv = step
        if iid in (CALL, PUT, LONG):
            return b.quote_opt(f"q{i}", at, iid, price, iv)
        return b.quote_mark(f"q{i}", at, iid, price)
    if kind == "funding":
        return b.funding(f"f{i}", at, step[3], step[2])
    return b.index(f"x{i}", at, step[2])


def _from_scratch(engine: Engine, key: tuple[str, str], at_us: int) -> tuple[float, ...]:
    pnl = engine.pnl
    fresh = PnlLedger(lots={k: dict(v) for k, v in pnl.lots.items()}, rates=dict(pnl.rates),
                      settle=dict(pnl.settle))
    return (*fresh.values(key, engine.instruments, engine.greeks.get, at_us),
            fresh.funding_per_day(key, engine.instruments))


@settings(max_examples=150, deadline=None)
@given(steps, st.sampled_from([0, 100]))
def test_reused_pnl_is_bit_identical_to_a_computation_from_scratch(
        history: list, emit_ms: int) -> None:  # type: ignore[type-arg]
    engine = Engine(EngineConfig(emit_interval_ms=emit_ms))
    for i, raw in enumerate(SETUP):
        engine.handle(raw, f"s:{i}")
    for i, step in enumerate(history):
        engine.handle(_record(i, step), f"h:{i}")
        at_us = b.parse(b.ts(step[1]))
        for key in list(engine.pnl.lots):
            for when in (at_us, at_us + 35_000_000):  # also later, past some expiries
                got = (*engine.pnl.values(key, engine.instruments, engine.greeks.get, when),
                       engine.pnl.funding_per_day(key, engine.instruments))
                fresh = _from_scratch(engine, key, when)
                assert repr(got) == repr(fresh)
                # what the engine reports: vectorised over the lots, from the price
                # columns it keeps (PnlLedger.live_values)
                live = engine.pnl.live_values(key, engine.instruments, engine.greeks.get, when)
                assert repr(tuple(live)) == repr(fresh[:5])


def test_the_reported_pnl_follows_a_full_revaluation() -> None:
    """A full revaluation gives every instrument new Greeks at its own moment; what the
    engine reports from its price columns must follow them (PnlLedger.reprice_all)."""
    engine = Engine(EngineConfig(emit_interval_ms=0))
    for i, raw in enumerate(SETUP):
        engine.handle(raw, f"s:{i}")
    steps = [("trade", 5, LONG, "buy", 2, 51000.0, "desk-a"),
             ("quote", 10, LONG, 51000.0, 0.6),
             ("index", 70, 50500.0)]  # past the 60 s revaluation boundary: revalues LONG
    for i, step in enumerate(steps):
        engine.handle(_record(i, step), f"h:{i}")
    at_us = b.parse(b.ts(70))
    key = ("desk-a", "BTC")
    live = engine.pnl.live_values(key, engine.instruments, engine.greeks.get, at_us)
    quoted = (0.0, -1019.7760781533055)  # realized, unrealized at the quote's Greeks
    assert (live.realized_usd, live.unrealized_usd) != quoted
    assert repr(tuple(live)) == repr(_from_scratch(engine, key, at_us)[:5])
