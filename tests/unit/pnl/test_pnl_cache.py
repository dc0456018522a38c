"""`PnlLedger.values` reuses sums and per-lot unrealized P&L between reports, and
`PnlLedger.live_values` (what the engine reports) computes them over columns (core/pnl.py).
The property: after every record of a random history (trades, quotes, funding, records
out of event-time order, expiry passing), every key's P&L and funding per day are
bit-identical to a ledger with the same lots that computes them from scratch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core import pnl
from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import encode
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
              st.integers(1, 5), prices, st.sampled_from(["desk-a", "desk-b"]),
              st.sampled_from([None, 0.0, 0.37, 2.5])),
    st.tuples(st.just("quote"), moment, st.sampled_from(IDS), prices, st.floats(0.2, 1.5)),
    st.tuples(st.just("funding"), moment, st.floats(-0.001, 0.001), st.sampled_from([PERP, PERP2])),
    st.tuples(st.just("index"), moment, prices),
), min_size=1, max_size=40)


def _record(i: int, step: tuple) -> bytes:  # type: ignore[type-arg]
    kind, at = step[0], step[1]
    if kind == "trade":
        _, _, iid, side, qty, price, book, fee = step
        return b.trade(f"t{i}", at, iid, side, qty, price=price / 100.0 if iid in (CALL, PUT, LONG)
                       else price, book=book, fee=fee)
    if kind == "quote":
        _, _, iid, price, iv = step
        if iid in (CALL, PUT, LONG):
            return b.quote_opt(f"q{i}", at, iid, price, iv)
        return b.quote_mark(f"q{i}", at, iid, price)
    if kind == "funding":
        return b.funding(f"f{i}", at, step[3], step[2])
    return b.index(f"x{i}", at, step[2])


@contextmanager
def every_key_over_columns() -> Iterator[None]:
    """live_values computes every key over columns, however few its lots (the keys here
    hold at most six; by default those take the lot loop)."""
    saved, pnl.VECTOR_MIN_LOTS = pnl.VECTOR_MIN_LOTS, 0
    try:
        yield
    finally:
        pnl.VECTOR_MIN_LOTS = saved


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
                assert repr(tuple(engine.pnl.live_values(
                    key, engine.instruments, engine.greeks.get, when))) == repr(fresh[:5])
                with every_key_over_columns():
                    live = engine.pnl.live_values(key, engine.instruments, engine.greeks.get,
                                                  when)
                assert repr(tuple(live)) == repr(fresh[:5])
        # the window's close: every key's at once, each at its own time (core/pnl.py
        # PnlLedger.prepared), as key by key
        keys = sorted(engine.pnl.lots)
        asked = [(key, at_us + 35_000_000 * (i % 2)) for i, key in enumerate(keys)]
        with every_key_over_columns(), engine.pnl.prepared(asked):
            for key, when in asked:
                live = engine.pnl.live_values(key, engine.instruments, engine.greeks.get, when)
                assert repr(tuple(live)) == repr(_from_scratch(engine, key, when)[:5])
        assert not engine.pnl._ahead


def test_the_reported_pnl_follows_a_full_revaluation() -> None:
    """A full revaluation gives every instrument new Greeks at its own moment; what the
    engine reports from its price columns must follow them (PnlLedger.reprice_all)."""
    engine = Engine(EngineConfig(emit_interval_ms=0))
    for i, raw in enumerate(SETUP):
        engine.handle(raw, f"s:{i}")
    steps = [("trade", 5, LONG, "buy", 2, 51000.0, "desk-a", None),
             ("quote", 10, LONG, 51000.0, 0.6),
             ("index", 70, 50500.0)]  # past the 60 s revaluation boundary: revalues LONG
    for i, step in enumerate(steps):
        engine.handle(_record(i, step), f"h:{i}")
    at_us = b.parse(b.ts(70))
    key = ("desk-a", "BTC")
    with every_key_over_columns():
        live = engine.pnl.live_values(key, engine.instruments, engine.greeks.get, at_us)
    quoted = (0.0, -1019.7760781533055)  # realized, unrealized at the quote's Greeks
    assert (live.realized_usd, live.unrealized_usd) != quoted
    assert repr(tuple(live)) == repr(_from_scratch(engine, key, at_us)[:5])


def _many_lots_day(books: tuple[str, ...], lots: dict[str, int] | None = None
                   ) -> list[bytes]:
    """Books of VECTOR_MIN_LOTS + 6 option lots each (or ``lots[book]``; linear and
    inverse), then quotes at three moments with the full revaluation at 60 s between."""
    strikes = [40000.0 + 250.0 * i for i in range(pnl.VECTOR_MIN_LOTS + 6)]
    records = [b.index("x0", 0, 50000.0)]
    records += [b.option(f"O{i}", k, kind="call" if i % 2 else "put",
                         settlement="linear" if i % 3 else "inverse", expiry=b.ts(7200))
                for i, k in enumerate(strikes)]
    records += [b.perp(PERP2)]
    for n, book in enumerate(books):
        records += [b.trade(f"t{book}{i}", 1 + i, f"O{i}", "buy" if (i + n) % 2 else "sell",
                            1 + (i + n) % 4, price=0.02 + i / 1000.0, book=book)
                    for i in range((lots or {}).get(book, len(strikes)))]
        records += [b.trade(f"tp{book}", 40, PERP2, "buy", 3 + n, price=50100.0, book=book)]
    for t in (50, 61, 75):
        records += [b.quote_opt(f"q{t}-{i}", t, f"O{i}", 50000.0 + 10.0 * t, 0.5 + i / 100.0)
                    for i in range(len(strikes))]
        records += [b.quote_mark(f"qp{t}", t, PERP2, 50000.0 + t)]
    return records


def test_a_key_of_many_lots_is_reported_over_columns_with_the_same_bits() -> None:
    """A key of VECTOR_MIN_LOTS lots or more takes the columns by default; its reported
    P&L equals the lot loop's from scratch, through quotes and a full revaluation."""
    engine = Engine(EngineConfig(emit_interval_ms=100))
    records = _many_lots_day(("desk-a",))
    key = ("desk-a", "BTC")
    for i, raw in enumerate(records):
        engine.handle(raw, f"m:{i}")
        if key in engine.pnl.lots:
            sums = engine.pnl._sums(key, engine.pnl.lots[key])
            at_us = engine.clock or 0
            live = engine.pnl.live_values(key, engine.instruments, engine.greeks.get, at_us)
            assert repr(tuple(live)) == repr(_from_scratch(engine, key, at_us)[:5])
    assert len(sums.open_lots) >= pnl.VECTOR_MIN_LOTS
    assert sums._cols is not None  # the columns were used


def test_the_window_close_computes_every_keys_pnl_at_once_with_the_same_bits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """E > 0: the window's close computes the P&L of all its keys in one pass
    (PnlLedger.prepared); the outputs are byte for byte those of key by key."""
    records = _many_lots_day(("desk-a", "desk-b", "desk-c"))

    def run() -> list[bytes]:
        engine = Engine(EngineConfig(emit_interval_ms=100))
        out = [encode(o) for i, raw in enumerate(records) for o in engine.handle(raw, f"m:{i}")]
        return out + [encode(o) for o in engine.flush()]

    real = PnlLedger._compute_ahead
    sizes: list[int] = []

    def spy(self: PnlLedger, requests: list) -> dict:  # type: ignore[type-arg]
        ahead = real(self, requests)
        sizes.append(len(ahead))
        return ahead

    monkeypatch.setattr(PnlLedger, "_compute_ahead", spy)
    at_once = run()
    assert max(sizes) == 3  # every key was computed ahead in some window
    monkeypatch.setattr(PnlLedger, "_compute_ahead", lambda self, requests: {})
    assert at_once == run()
    assert sum(o.startswith(b'{"type":"pnl"') for o in at_once) > 10


def test_a_key_of_many_more_lots_than_the_others_is_left_to_live_values() -> None:
    """The close's matrix is keys x the longest key: a key of over four times the median
    key's lots is computed on its own, and every key's P&L stays that of a ledger
    computing from scratch."""
    books = ("desk-a", "desk-b", "desk-c", "desk-d")
    engine = Engine(EngineConfig(emit_interval_ms=100))
    for i, raw in enumerate(_many_lots_day(books, {"desk-a": 2, "desk-b": 3, "desk-c": 2})):
        engine.handle(raw, f"m:{i}")
    at_us = engine.clock or 0
    keys = [(book, "BTC") for book in books]
    with every_key_over_columns(), engine.pnl.prepared([(key, at_us) for key in keys]):
        assert sorted(engine.pnl._ahead) == keys[:3]  # desk-d's 31 lots: on its own
        for key in keys:
            live = engine.pnl.live_values(key, engine.instruments, engine.greeks.get, at_us)
            assert repr(tuple(live)) == repr(_from_scratch(engine, key, at_us)[:5])


def test_a_new_lot_extends_the_key_sums_as_a_computation_from_scratch() -> None:
    """A trade that opens a key's new lot extends its derived sums and columns in place
    (_KeySums.extend) instead of dropping them: fees, realized P&L, a funded perpetual's
    funding per day and the columns must equal the lot loop's from scratch."""
    engine = Engine(EngineConfig(emit_interval_ms=100))
    for i, raw in enumerate(SETUP):
        engine.handle(raw, f"s:{i}")
    key = ("desk-a", "BTC")
    records = [
        b.trade("t0", 1, CALL, "buy", 3, price=0.05, fee=0.75),
        b.quote_mark("qp", 2, PERP2, 50100.0),
        b.funding("f0", 3, PERP2, 0.0004),  # PERP2 is funded before desk-a holds it
        b.trade("t1", 4, PUT, "sell", 2, price=0.04, fee=1.5),
        b.trade("t2", 5, PERP2, "buy", 4, price=50050.0, fee=0.25),  # new funded lot
        b.trade("t3", 6, CALL, "sell", 3, price=0.06, fee=0.5),  # closes CALL: realized
        b.trade("t4", 7, FUT, "buy", 1, price=50200.0, fee=2.0),
    ]
    for i, raw in enumerate(records):
        engine.handle(raw, f"n:{i}")
        at_us = engine.clock or 0
        with every_key_over_columns():  # the columns too are built (and then extended)
            live = engine.pnl.live_values(key, engine.instruments, engine.greeks.get, at_us)
        got = (*engine.pnl.values(key, engine.instruments, engine.greeks.get, at_us),
               engine.pnl.funding_per_day(key, engine.instruments))
        fresh = _from_scratch(engine, key, at_us)
        assert repr(got) == repr(fresh)
        assert repr(tuple(live)) == repr(fresh[:5])
    sums = engine.pnl._sums(key, engine.pnl.lots[key])
    assert [iid for iid, _ in sums.funded] == [PERP2]
    assert fresh[-1] != 0.0 and fresh[2] != 0.0  # funding per day and fees were compared


def test_new_lots_extend_the_kept_sum_while_no_price_moves(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A market's opening: its instruments are priced, then trades open one lot after
    another. Each trade's report adds the new lot's unrealized P&L to the key's kept sum
    (_KeySums.unreal) instead of summing every lot again; a quote between trades makes
    the next report sum them all. Every report, now and past the earliest expiry, equals
    the lot loop's from scratch; the lots were summed in full only after a price moved."""
    n = pnl.VECTOR_MIN_LOTS + 8
    records = [b.index("x0", 0, 50000.0), b.perp(PERP2), b.quote_mark("qp", 0, PERP2, 50020.0)]
    for i in range(n):  # linear and inverse; O16 (at the money) expires first, traded last
        records += [b.option(f"O{i}", 46000.0 + 250.0 * i, kind="call" if i % 2 else "put",
                             settlement="linear" if i % 3 else "inverse",
                             expiry=b.ts(90 if i == 16 else 7200)),
                    b.quote_opt(f"q{i}", 0, f"O{i}", 50000.0, 0.5 + i / 100.0)]
    order = [i for i in range(n) if i != 16] + [16]
    trades = [b.trade(f"t{i}", 1 + k, f"O{i}", "buy" if i % 2 else "sell", 1 + i % 4,
                      price=0.02 + i / 1000.0) for k, i in enumerate(order)]
    trades.insert(n // 2, b.trade("tp", n // 2, PERP2, "buy", 3, price=50010.0))
    trades.insert(n // 2 + 3, b.quote_opt("q-mid", n // 2 + 2, "O17", 50100.0, 0.55))
    summed: list[int] = []
    real = pnl._PriceColumns.lot_pnl

    def spy(self: pnl._PriceColumns, idx, qty, avg):  # type: ignore[no-untyped-def]
        summed.append(len(idx))
        return real(self, idx, qty, avg)

    monkeypatch.setattr(pnl._PriceColumns, "lot_pnl", spy)
    engine = Engine(EngineConfig(emit_interval_ms=100))
    key = ("desk-a", "BTC")
    for i, raw in enumerate(records + trades):
        engine.handle(raw, f"o:{i}")
        if key not in engine.pnl.lots:
            continue
        at_us = engine.clock or 0
        for when in (at_us, b.parse(b.ts(95))):  # the second is past O16's expiry
            with every_key_over_columns():
                live = engine.pnl.live_values(key, engine.instruments, engine.greeks.get,
                                              when)
            assert repr(tuple(live)) == repr(_from_scratch(engine, key, when)[:5])
    sums = engine.pnl._sums(key, engine.pnl.lots[key])
    assert len(sums.open_lots) == n + 1 and sums.unreal is not None
    # summed in full: the first report, the quote's, a full revaluation's; not per trade
    assert 0 < len(summed) <= 6, summed
