"""Cost basis and mark-to-market P&L per (book, instrument); perpetual funding.

The arithmetic (docs/contract.md *Mark-to-market P&L*, *Funding of perpetuals*; conventions
where docs/contract.md is silent in docs/pnl.md) is in pure functions on :class:`Lot` values:

    lot = apply_trade(lot, signed=+2, price=50_000.0, fee=1.5, contract_size=1.0,
                      harmonic=False)
    unrealized(lot, contract_size=1.0, kind=LINEAR, price=51_000.0)   # USD

Units: ``qty`` in signed contracts, ``avg`` (A) in USD per coin (the unit of
``trade.price``), realized / fees / funding in USD. Linear contracts and options
average arithmetically; inverse futures and perpetuals harmonically.

:class:`PnlLedger` holds the lots of every (book, underlying) for the engine, the
last funding rate of each perpetual and each dated instrument's last price before
expiry (what expired positions are valued at).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from greekstream.core.records import record
from greekstream.core.valuation import ContractGreeks, InstrumentState

FLAT = 1e-9  # contracts: below this a position is closed (as the engine's books.FLAT)

OPTION, LINEAR, INVERSE = "option", "linear", "inverse"
Key = tuple[str, str]


@record
class Lot:
    """One (book, instrument)'s position and its P&L so far."""

    qty: float = 0.0  # signed contracts
    avg: float = 0.0  # average entry price A, USD per coin (0 when flat)
    realized: float = 0.0  # USD, fees excluded
    fees: float = 0.0  # USD, >= 0
    funding: float = 0.0  # USD received (negative: paid)


class PnlValues(NamedTuple):
    realized_usd: float
    unrealized_usd: float
    fees_usd: float
    funding_usd: float
    total_usd: float

    def as_dict(self) -> dict[str, float]:
        return dict(self._asdict())


ZERO = PnlValues(0.0, 0.0, 0.0, 0.0, 0.0)


def kind_of(inst: InstrumentState) -> str:
    """How an instrument's P&L is computed: OPTION, LINEAR or INVERSE (futures, perps)."""
    if inst.is_option:
        return OPTION
    return INVERSE if inst.inverse else LINEAR


# ----------------------------------------------------------------------------- arithmetic


def apply_trade(
    lot: Lot, signed: float, price: float, fee: float, contract_size: float, harmonic: bool
) -> Lot:
    """The lot after a trade of ``signed`` contracts at ``price`` (USD per coin).

    Same sign as the position (or flat): the average moves (harmonic for inverse
    futures/perpetuals). Opposite sign: the closed part realizes against A, in USD
    (inverse: the coin P&L converted at the trade price); a remainder past zero
    opens at the trade price.
    """
    q, a = lot.qty, lot.avg
    fees = lot.fees + fee
    after = q + signed
    if q == 0.0 or (q > 0.0) == (signed > 0.0):
        if harmonic:
            avg = after / (q / a + signed / price) if q != 0.0 else price
        else:
            avg = (q * a + signed * price) / after if q != 0.0 else price
        return Lot(after, avg, lot.realized, fees, lot.funding)
    closed = min(abs(signed), abs(q)) * (1.0 if q > 0.0 else -1.0)
    if harmonic:
        realized = closed * contract_size * (1.0 / a - 1.0 / price) * price
    else:
        realized = closed * contract_size * (price - a)
    if abs(after) < FLAT:
        after, avg = 0.0, 0.0
    elif (after > 0.0) != (q > 0.0):
        avg = price  # flipped through zero: the remainder opens at the trade price
    else:
        avg = a
    return Lot(after, avg, lot.realized + realized, fees, lot.funding)


def unrealized(lot: Lot, contract_size: float, kind: str, price: float | None) -> float:
    """U in USD at ``price``: the option value V (USD per coin) or the mark M.
    An unknown price values the position at its cost (0)."""
    if lot.qty == 0.0 or price is None:
        return 0.0
    if kind == INVERSE:
        return lot.qty * contract_size * (1.0 / lot.avg - 1.0 / price) * price
    return lot.qty * contract_size * (price - lot.avg)


def funding_payment(
    qty: float, contract_size: float, inverse: bool, rate: float, mark: float | None
) -> float:
    """USD received by a holder of ``qty`` contracts for one funding period at ``rate``
    (a long pays when rate > 0): −q·m·M·rate linear, −q·cs·rate inverse."""
    if inverse:
        return -qty * contract_size * rate
    if mark is None:
        return 0.0
    return -qty * contract_size * mark * rate


def total(realized: float, unrealized_usd: float, fees: float, funding: float) -> PnlValues:
    return PnlValues(realized, unrealized_usd, fees, funding,
                     realized + unrealized_usd + funding - fees)


# ----------------------------------------------------------------------------- valuation


def price_for_pnl(inst: InstrumentState, g: ContractGreeks | None, at_us: int,
                  settle: float | None) -> float | None:
    """The price a position is marked at: USD per coin. Options: the Black-76 value of
    ``g`` (per contract, from the latest quote), or intrinsic against the last forward
    before expiry once expired; futures past expiry: their last mark before expiry."""
    expired = inst.expiry_us is not None and inst.expiry_us <= at_us
    if inst.is_option:
        if expired:
            if settle is None or inst.strike is None:
                return None
            return max((settle - inst.strike) if inst.is_call else (inst.strike - settle), 0.0)
        if g is None or not g.valued or not g.live:
            return None
        return g.value / inst.contract_size
    if expired:
        return settle
    return inst.mark


# ----------------------------------------------------------------------------- the ledger


@dataclass
class PnlLedger:
    """The engine's P&L state: lots per (book, underlying), funding rates, settle prices."""

    lots: dict[Key, dict[str, Lot]] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)  # perpetual -> last rate
    settle: dict[str, float] = field(default_factory=dict)  # dated -> last price pre-expiry
    last_emitted: dict[Key, PnlValues] = field(default_factory=dict)
    # Derived from ``lots``, never snapshotted (see :meth:`values`): per key its
    # realized/fees/funding sums and its open lots in order (dropped whenever the key's lots
    # change), and each open lot's last unrealized P&L with the objects it came from.
    _derived: dict[Key, _KeySums] = field(default_factory=dict, repr=False, compare=False)
    _unrealized: dict[Key, dict[str, _Unrealized]] = field(default_factory=dict, repr=False,
                                                            compare=False)
    # Derived, never snapshotted: each instrument's price before expiry, contract size,
    # kind and expiry as columns, kept by the engine through :meth:`reprice` (see
    # :meth:`live_values`)
    _columns: _PriceColumns = field(default_factory=lambda: _PriceColumns(), repr=False,
                                    compare=False)
    # Transient: live_values computed ahead for many keys at once (:meth:`prepared`)
    _ahead: dict[Key, tuple[int, PnlValues]] = field(default_factory=dict, repr=False,
                                                      compare=False)

    def on_trade(self, key: Key, inst: InstrumentState, signed: float, price: float,
                 fee: float) -> None:
        lots = self.lots.setdefault(key, {})
        iid = inst.instrument_id
        old = lots.get(iid)
        lot = lots[iid] = apply_trade(
            Lot() if old is None else old, signed, price, fee, inst.contract_size,
            kind_of(inst) == INVERSE,
        )
        sums = self._derived.get(key)
        if sums is not None and old is None:
            # a new lot comes last in the key's lot order, so the key's sums and columns
            # extend by it (the same additions in the same order as _KeySums.of)
            sums.extend(iid, lot, iid in self.rates, self._columns)
        else:
            self._derived.pop(key, None)

    def on_quote(self, inst: InstrumentState, ts: int) -> None:
        """Remember a dated instrument's last price before its expiry."""
        if inst.expiry_us is None or ts >= inst.expiry_us:
            return
        price = inst.forward if inst.is_option else inst.mark
        if price is not None:
            self.settle[inst.instrument_id] = price

    def on_funding(self, inst: InstrumentState, rate: float, keys: Iterable[Key]) -> None:
        iid = inst.instrument_id
        if iid not in self.rates:  # a newly funded perpetual: every key's rated lots change
            self._derived.clear()
        self.rates[iid] = rate
        for key in keys:
            lots = self.lots.get(key, {})
            lot = lots.get(iid)
            if lot is None or lot.qty == 0.0:
                continue
            paid = funding_payment(lot.qty, inst.contract_size, inst.inverse, rate, inst.mark)
            lots[iid] = Lot(lot.qty, lot.avg, lot.realized, lot.fees, lot.funding + paid)
            self._derived.pop(key, None)

    def has(self, key: Key) -> bool:
        return key in self.lots

    def values(self, key: Key, instruments: Mapping[str, InstrumentState],
               greeks: Callable[[str], ContractGreeks | None], at_us: int) -> PnlValues:
        """The key's P&L at ``at_us`` with per-contract valuations from ``greeks``.

        Hot (every exposure report), so it reuses what has not moved: the realized,
        fees and funding sums of the key's lots (until they change), and each open lot's
        unrealized P&L while its lot, instrument, Greeks and mark are the same objects
        and ``at_us`` is before its expiry. The sums are the same additions in the same
        (lot) order as a computation from scratch, so the result is bit-identical to it
        (tests/unit/pnl/test_pnl_cache.py checks this on random histories).
        """
        lots = self.lots.get(key)
        if not lots:
            return ZERO
        sums = self._sums(key, lots)
        memo = self._unrealized.get(key)
        if memo is None:
            memo = self._unrealized[key] = {}
        settle = self.settle
        unreal = 0.0
        for iid, lot in sums.open_lots:
            inst = instruments[iid]
            g = greeks(iid)
            mark = inst.mark
            hit = memo.get(iid)
            if (hit is not None and hit[0] is lot and hit[1] is inst and hit[2] is g
                    and hit[3] is mark and at_us < hit[4]):
                unreal += hit[5]
                continue
            u = unrealized(lot, inst.contract_size, kind_of(inst),
                           price_for_pnl(inst, g, at_us, settle.get(iid)))
            expiry = inst.expiry_us
            if expiry is None or at_us < expiry:  # past expiry the price depends on at_us
                memo[iid] = (lot, inst, g, mark, _NEVER if expiry is None else expiry, u)
            unreal += u
        return total(sums.realized, unreal, sums.fees, sums.funding)

    def reprice(self, inst: InstrumentState, g: ContractGreeks | None) -> None:
        """The engine's Greeks of ``inst`` (or its mark) changed: its price column follows."""
        self._columns.set(inst, g)

    def reprice_all(self, instruments: Mapping[str, InstrumentState],
                    greeks: Mapping[str, ContractGreeks]) -> None:
        """Every price column from the engine's instruments and Greeks (after a full
        revaluation or a restore)."""
        columns = self._columns
        for iid, inst in instruments.items():
            columns.set(inst, greeks.get(iid))

    def live_values(self, key: Key, instruments: Mapping[str, InstrumentState],
                    greeks: Callable[[str], ContractGreeks | None], at_us: int) -> PnlValues:
        """:meth:`values` with the engine's own Greeks, vectorised over the key's open lots.

        The price columns hold, per instrument, what :func:`price_for_pnl` returns before
        expiry for the engine's Greeks and mark; the engine calls :meth:`reprice` wherever
        they change. Each lot's unrealized P&L is then the same IEEE operations as
        :func:`unrealized`, elementwise, and the sum is sequential in lot order (a
        cumulative sum), so the result is bit-identical to :meth:`values`
        (tests/unit/pnl/test_pnl_cache.py). A lot past its expiry (its price depends on
        ``at_us`` and the settle price), or one that would divide by zero, takes
        :meth:`values`, and so does a key of fewer than :data:`VECTOR_MIN_LOTS` open lots
        (there the loop, which reuses the lots that did not move, is faster).
        """
        if self._ahead:
            ahead = self._ahead.get(key)
            if ahead is not None and ahead[0] == at_us:
                return ahead[1]
        lots = self.lots.get(key)
        if not lots:
            return ZERO
        sums = self._sums(key, lots)
        if len(sums.open_lots) < VECTOR_MIN_LOTS:
            return self.values(key, instruments, greeks, at_us)
        cols = sums.columns(self._columns)
        if cols is None:
            return self.values(key, instruments, greeks, at_us)
        idx, qty, avg = cols
        c = self._columns
        if len(idx) == 0:
            return total(sums.realized, 0.0, sums.fees, sums.funding)
        kept = sums.unreal
        if kept is not None and kept[0] == c.epoch:  # no price moved since: the kept sum
            running, first_expiry = kept[1], kept[2]
        else:
            first_expiry = int(c.expiry[idx].min())
            u, zero = c.lot_pnl(idx, qty, avg)
            if zero is not None:  # an inverse lot would divide by zero
                return self.values(key, instruments, greeks, at_us)
            running = float(np.cumsum(u)[-1])
            sums.unreal = (c.epoch, running, first_expiry)
        if first_expiry <= at_us:
            return self.values(key, instruments, greeks, at_us)
        # as ``0.0 + u0 + u1 + ...`` in lot order
        return total(sums.realized, running + 0.0, sums.fees, sums.funding)

    @contextmanager
    def prepared(self, requests: Iterable[tuple[Key, int]]) -> Iterator[None]:
        """Inside, :meth:`live_values` of each (key, at_us) asked for is computed ahead,
        all keys in one pass over their columns (the window's close reports hundreds of
        keys; per key, numpy's fixed cost was most of the time). The same IEEE operations
        elementwise, and each key's sum sequential in its lot order (a cumulative sum
        along the row of a zero-padded matrix; the padding adds +0.0 after the last
        lot), so the values are bit-identical to :meth:`live_values` key by key. A key
        that would take another path there (few lots, no columns, a lot past its expiry,
        a division by zero) is left to it, and so is one of over four times the median
        key's lots (the matrix is keys x the longest key). Nothing may change the prices
        inside."""
        self._ahead = self._compute_ahead(list(requests))
        try:
            yield
        finally:
            self._ahead = {}

    def _compute_ahead(self, requests: list[tuple[Key, int]]
                       ) -> dict[Key, tuple[int, PnlValues]]:
        c = self._columns
        chosen: list[tuple[Key, int, _KeySums, tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
        for key, at_us in requests:
            lots = self.lots.get(key)
            if not lots:
                continue
            sums = self._sums(key, lots)
            if len(sums.open_lots) < VECTOR_MIN_LOTS:
                continue
            cols = sums.columns(c)
            if cols is not None and len(cols[0]):
                chosen.append((key, at_us, sums, cols))
        lens = np.fromiter((len(ch[3][0]) for ch in chosen), np.intp, len(chosen))
        if len(chosen) > 2:  # the matrix is keys x the longest key: a key of many more
            wide = lens > 4 * int(np.median(lens))  # lots than most takes live_values
            if wide.any():
                chosen = [ch for ch, w in zip(chosen, wide.tolist(), strict=True) if not w]
                lens = lens[~wide]
        if len(chosen) < 2:
            return {}
        idx = np.concatenate([ch[3][0] for ch in chosen])
        qty = np.concatenate([ch[3][1] for ch in chosen])
        avg = np.concatenate([ch[3][2] for ch in chosen])
        starts = np.cumsum(lens) - lens
        usable = np.minimum.reduceat(c.expiry[idx], starts) > np.fromiter(
            (ch[1] for ch in chosen), np.int64, len(chosen))
        u, zero = c.lot_pnl(idx, qty, avg)
        if zero is not None:  # keys with an inverse lot that would divide by zero
            usable &= ~np.logical_or.reduceat(zero, starts)
        u[np.repeat(~usable, lens)] = 0.0  # keys left out add nothing (and warn of nothing)
        padded = np.zeros((len(chosen), int(lens.max())))
        row = np.repeat(np.arange(len(chosen)), lens)
        padded[row, np.arange(len(idx)) - starts[row]] = u
        sums_at = np.cumsum(padded, axis=1)[np.arange(len(chosen)), lens - 1].tolist()
        return {key: (at_us, total(sums.realized, sums_at[i] + 0.0, sums.fees, sums.funding))
                for i, (key, at_us, sums, _) in enumerate(chosen) if usable[i]}

    def _sums(self, key: Key, lots: Mapping[str, Lot]) -> _KeySums:
        sums = self._derived.get(key)
        if sums is None:
            sums = self._derived[key] = _KeySums.of(lots, self.rates)
        return sums

    def funding_per_day(self, key: Key, instruments: Mapping[str, InstrumentState]) -> float:
        """USD per day the key's perpetuals receive at their last rates (negative: pay)."""
        lots = self.lots.get(key)
        if not lots or not self.rates:
            return 0.0
        sums = self._sums(key, lots)
        per_day = 0.0
        rates = self.rates
        for iid, lot in sums.funded:  # the open lots of funded perpetuals, in lot order
            rate = rates[iid]
            inst = instruments[iid]
            per_day += funding_payment(lot.qty, inst.contract_size, inst.inverse, rate,
                                       inst.mark) * 24.0 / inst.interval_h
        return per_day

    def drop_books(self, book_filter: Callable[[str], bool]) -> None:
        for table in (self.lots, self.last_emitted, self._derived, self._unrealized):
            for key in [k for k in table if book_filter(k[0])]:
                del table[key]

    # ------------------------------------------------------------------ snapshots

    def dump_market(self) -> dict[str, Any]:
        return {"rates": self.rates, "settle": self.settle}

    def load_market(self, doc: Mapping[str, Any]) -> None:
        self.rates = dict(doc["rates"])
        self.settle = dict(doc["settle"])
        self._derived.clear()

    def dump_books(self, keep: Callable[[str], bool]) -> dict[str, Any]:
        return {
            "lots": [[k[0], k[1], iid, lot.qty, lot.avg, lot.realized, lot.fees, lot.funding]
                     for k, lots in self.lots.items() if keep(k[0])
                     for iid, lot in lots.items()],  # Lot's fields in order: load_books
            "last": [[k[0], k[1], *v] for k, v in self.last_emitted.items() if keep(k[0])],
        }

    def load_books(self, doc: Mapping[str, Any]) -> None:
        self._derived.clear()
        self._unrealized.clear()
        for book, und, iid, *numbers in doc["lots"]:
            self.lots.setdefault((book, und), {})[iid] = Lot(*numbers)
        for book, und, *numbers in doc["last"]:
            self.last_emitted[(book, und)] = PnlValues(*numbers)


_NEVER = 1 << 62  # µs: no expiry
# Open lots from which a key's P&L is computed over columns (PnlLedger.live_values): numpy's
# fixed cost per report is about that of the lot loop over ~24 lots that did not move
# (`bench` keys: median 6 open lots; `market` keys: median 133)
VECTOR_MIN_LOTS = 24
# (lot, instrument, Greeks, mark, valid before µs, unrealized USD): reused while the first
# four are the same objects (PnlLedger.values)
_Unrealized = tuple[Lot, Any, Any, Any, int, float]


class _PriceColumns:
    """Per instrument (a row each, assigned once): the price a lot is marked at before
    expiry (:func:`price_for_pnl`; NaN for none), its contract size, whether it is an
    inverse future/perpetual, and its expiry (µs; _NEVER for none)."""

    __slots__ = ("epoch", "expiry", "inverse", "price", "rows", "size")

    def __init__(self) -> None:
        self.epoch = 0  # counts the changes: a sum over the columns holds while it is the same
        self.rows: dict[str, int] = {}
        self.price = np.full(64, np.nan)
        self.size = np.ones(64)
        self.inverse = np.zeros(64, dtype=bool)
        self.expiry = np.full(64, _NEVER, dtype=np.int64)

    def lot_pnl(self, idx: np.ndarray, qty: np.ndarray, avg: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """Each lot's unrealized P&L at its instrument's row ``idx``, elementwise with the
        same IEEE operations as :func:`unrealized` (linear and option lots
        ``q·cs·(P − A)``, inverse ones ``q·cs·(1/A − 1/P)·P``; an unknown price values a
        lot at its cost), and the mask of inverse lots whose price or average is zero
        (None when there is none): their entries would divide by zero and mean nothing."""
        price, size = self.price[idx], self.size[idx]
        u = qty * size * (price - avg)
        inverse = self.inverse[idx]
        zero = None
        if inverse.any():
            p_inv, a_inv = price[inverse], avg[inverse]
            bad = (p_inv == 0.0) | (a_inv == 0.0)
            if bad.any():
                zero = np.zeros(len(idx), dtype=bool)
                zero[inverse] = bad
            with np.errstate(divide="ignore", invalid="ignore"):  # only where ``zero``
                u[inverse] = qty[inverse] * size[inverse] * (1.0 / a_inv - 1.0 / p_inv) * p_inv
        u[np.isnan(price)] = 0.0
        return u, zero

    def one_lot_pnl(self, row: int, qty: float, avg: float) -> float | None:
        """:meth:`lot_pnl` of one lot in Python floats: the same IEEE operations in the
        same order, so the same bits; None where it would divide by zero."""
        price, size = float(self.price[row]), float(self.size[row])
        if self.inverse[row]:
            if price == 0.0 or avg == 0.0:
                return None
            return 0.0 if math.isnan(price) else qty * size * (1.0 / avg - 1.0 / price) * price
        return 0.0 if math.isnan(price) else qty * size * (price - avg)

    def set(self, inst: InstrumentState, g: ContractGreeks | None) -> None:
        self.epoch += 1
        row = self.rows.get(inst.instrument_id)
        if row is None:
            row = self.rows[inst.instrument_id] = len(self.rows)
            if row == len(self.price):
                self.price = np.concatenate([self.price, np.full(row, np.nan)])
                self.size = np.concatenate([self.size, np.ones(row)])
                self.inverse = np.concatenate([self.inverse, np.zeros(row, dtype=bool)])
                self.expiry = np.concatenate([self.expiry, np.full(row, _NEVER, np.int64)])
        if inst.is_option:
            price = (g.value / inst.contract_size if g is not None and g.valued and g.live
                     else None)
        else:
            price = inst.mark
        self.price[row] = np.nan if price is None else price
        self.size[row] = inst.contract_size
        self.inverse[row] = kind_of(inst) == INVERSE
        self.expiry[row] = _NEVER if inst.expiry_us is None else inst.expiry_us


@dataclass(slots=True)
class _KeySums:
    """What :meth:`PnlLedger.values` derives from one key's lots while they do not change."""

    realized: float
    fees: float
    funding: float
    open_lots: list[tuple[str, Lot]]
    funded: list[tuple[str, Lot]]  # the open lots of perpetuals with a funding rate
    # the open lots as columns for PnlLedger.live_values: their instruments' price rows,
    # qty and avg; built on first use, views of buffers with room to extend into
    _cols: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    _room: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    # the columns' unrealized P&L as live_values last summed it: the price columns' epoch
    # it holds for, the sequential sum over the lots in order (before the final ``+ 0.0``)
    # and the lots' earliest expiry (µs); extended by a new lot while no price moves
    unreal: tuple[int, float, int] | None = None

    def columns(self, prices: _PriceColumns) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The open lots as columns, or None while one of their instruments has no price
        row (the engine has not priced it)."""
        if self._cols is None:
            rows = prices.rows
            if any(iid not in rows for iid, _ in self.open_lots):
                return None
            n = len(self.open_lots)
            room = 2 * n + 8
            idx = np.zeros(room, dtype=np.intp)
            qty, avg = np.zeros(room), np.zeros(room)
            idx[:n] = [rows[iid] for iid, _ in self.open_lots]
            qty[:n] = [lot.qty for _, lot in self.open_lots]
            avg[:n] = [lot.avg for _, lot in self.open_lots]
            self._room = (idx, qty, avg)
            self._cols = (idx[:n], qty[:n], avg[:n])
        return self._cols

    def extend(self, iid: str, lot: Lot, funded: bool, prices: _PriceColumns) -> None:
        """The key's lots gained ``lot``, last in their order: as :meth:`of` over them."""
        self.realized += lot.realized
        self.fees += lot.fees
        self.funding += lot.funding
        if lot.qty == 0.0:
            return
        self.open_lots.append((iid, lot))
        if funded:
            self.funded.append((iid, lot))
        cols, room = self._cols, self._room
        if cols is None or room is None:
            return
        row = prices.rows.get(iid)
        if row is None:  # not priced yet: columns() tells the caller
            self._cols = self._room = self.unreal = None
            return
        n = len(cols[0])
        if n == len(room[0]):  # full: twice the room, the lots so far copied over
            room = self._room = tuple(np.concatenate([c, np.zeros_like(c)])  # type: ignore[assignment]
                                      for c in room)
        idx, qty, avg = room
        idx[n], qty[n], avg[n] = row, lot.qty, lot.avg
        self._cols = (idx[:n + 1], qty[:n + 1], avg[:n + 1])
        kept = self.unreal
        if kept is not None and kept[0] == prices.epoch:
            # the sum's next addition, as np.cumsum would make it over the longer columns
            u = prices.one_lot_pnl(row, lot.qty, lot.avg)
            self.unreal = None if u is None else (
                kept[0], kept[1] + u, min(kept[2], int(prices.expiry[row])))
        else:
            self.unreal = None

    @classmethod
    def of(cls, lots: Mapping[str, Lot], rates: Mapping[str, float]) -> _KeySums:
        realized = fees = funding = 0.0
        open_lots = []
        for iid, lot in lots.items():
            realized += lot.realized
            fees += lot.fees
            funding += lot.funding
            if lot.qty != 0.0:
                open_lots.append((iid, lot))
        return cls(realized, fees, funding, open_lots,
                   [(iid, lot) for iid, lot in open_lots if iid in rates])
