"""The engine's state, apart from its behaviour.

:class:`EngineState` holds everything a checkpoint must capture: the market (instruments,
their cached per-contract Greeks, index prices, the oracle, the clock and the event-time
boundaries), the books (positions, cached totals, limits, margins, collateral, open
breaches, pending intents, what was last emitted) and the open emission window (the
dirty (book, underlying)s, each with the record that last dirtied it).

``snapshot`` (checkpoints) and ``slices`` (arrays for scenario risk) read and write this
object; :class:`~greekstream.core.engine.Engine` holds only behaviour on top of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from greekstream.core import onchain_state
from greekstream.core.books import BookRisk, Cause, DirtyKeys, Totals, TotalsTable
from greekstream.core.chain import Chains
from greekstream.core.dedup import QuoteIds, SeenIds
from greekstream.core.events import Limits
from greekstream.core.oracle import OracleState
from greekstream.core.pnl import PnlLedger
from greekstream.core.regime import VolState
from greekstream.core.valuation import ContractGreeks, InstrumentState

Key = tuple[str, str]  # (book, underlying)
MARKET = ""  # dedup scope of events that belong to no book


@dataclass(eq=False)
class EngineState:
    oracle: OracleState
    instruments: dict[str, InstrumentState] = field(default_factory=dict)
    greeks: dict[str, ContractGreeks] = field(default_factory=dict)
    holders: dict[str, dict[Key, None]] = field(default_factory=dict)
    underlyings: dict[str, None] = field(default_factory=dict)
    index: dict[str, float] = field(default_factory=dict)
    books: dict[Key, BookRisk] = field(default_factory=dict)
    by_underlying: dict[str, dict[Key, None]] = field(default_factory=dict)
    limits: dict[Key, Limits] = field(default_factory=dict)
    margins: dict[Key, tuple[float, float]] = field(default_factory=dict)
    collateral: dict[Key, float] = field(default_factory=dict)
    chain: onchain_state.ChainState = field(default_factory=onchain_state.ChainState)
    pnl: PnlLedger = field(default_factory=PnlLedger)  # cost basis, P&L, fees, funding
    seen: SeenIds = field(default_factory=SeenIds)  # event ids, bounded (core/dedup.py)
    quote_ids: QuoteIds = field(default_factory=QuoteIds)
    clock: int | None = None
    # the largest ts of a market record applied: how far ahead a record may be dated is
    # counted from it (guards.too_far_ahead), alike on every processor instance
    market_clock: int | None = None
    # per book, the largest ts of its records applied while there was no market clock:
    # with the market's clock, what the book's lateness is counted from (dedup_clock)
    book_clocks: dict[str, int] = field(default_factory=dict)
    next_reval_us: int | None = None
    next_risk_us: int | None = None
    next_var_us: int | None = None
    duplicates: int = 0
    late_quotes: int = 0  # quotes older than the instrument's quote in force: ignored
    # the open emission window (contract, part 2): its end (µs, exclusive) and the dirty
    # keys, each with the record that last dirtied it (what its exposure is attributed to)
    window_end_us: int | None = None
    dirty: DirtyKeys = field(default_factory=DirtyKeys)
    # windows_per_book (a processor): the end of each book's window where that book's own
    # records opened one later than the market's (window_end_us); absent: the market's
    book_windows: dict[str, int] = field(default_factory=dict)
    # the head of every output hash chain (core/chain.py), each underlying's realized-vol
    # estimator and regime (core/regime.py), each instrument's latest bid/ask (intents)
    chains: Chains = field(default_factory=Chains)
    regimes: dict[str, VolState] = field(default_factory=dict)
    bid_ask: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    # every key's Greek totals, one row each (BookRisk.totals is its row)
    totals: TotalsTable = field(default_factory=TotalsTable)
    # derived, never snapshotted: per instrument, its holders' totals cells and quantities
    # (holder_columns); dropped whenever a holder or a quantity of that instrument changes
    holder_cols: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict)

    def book(self, book: str, underlying: str) -> BookRisk:
        """The (book, underlying)'s risk state, created on first use."""
        key = (book, underlying)
        br = self.books.get(key)
        if br is None:
            br = self.books[key] = BookRisk(book, underlying, totals=Totals(self.totals))
            self.dirty.own(br.totals.row, key)
            self.by_underlying.setdefault(underlying, {})[key] = None
        return br

    def dedup_clock(self, scope: str) -> int | None:
        """What lateness (``late_event``) and the dedup window of ``scope``'s ids are
        counted from (core/dedup.py): the market's clock for market records; for a book's,
        the later of it and the book's own records before any market record. Never
        another book's records: a processor instance holds only its own books, so
        whether a record is late must not depend on which others it holds, and a book
        record dated days ahead (inside max_ts_ahead_s) must not make every other
        record late (docs/streaming.md, *Bounded state*)."""
        market = self.market_clock
        if scope == MARKET:
            return market
        own = self.book_clocks.get(scope)
        if own is None:
            return market
        return own if market is None or own > market else market

    def mark_dirty(self, br: BookRisk, cause: Cause) -> None:
        self.dirty[br.key] = cause

    def holder_columns(self, iid: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The totals cells of ``iid``'s holders (TotalsTable.cells of their rows), their
        quantities (a column) and their rows, in holder order: a quote adds
        ``qty · Δgreeks`` to those cells in one step (TotalsTable.add_at) and marks the
        rows dirty in another (DirtyKeys.mark_rows)."""
        cols = self.holder_cols.get(iid)
        if cols is None:
            brs = [self.books[key] for key in self.holders.get(iid, ())]
            rows = np.array([br.totals.row for br in brs], dtype=np.intp)
            qty = np.array([br.positions[iid] for br in brs], dtype=np.float64).reshape(-1, 1)
            cols = self.holder_cols[iid] = (TotalsTable.cells(rows), qty, rows)
        return cols

    def holding_changed(self, iid: str) -> None:
        """A holder of ``iid`` or its quantity changed: its columns are built again."""
        self.holder_cols.pop(iid, None)

    def visible(self, key: Key) -> bool:
        """A (book, underlying) is reported once its underlying is known."""
        return key in self.books and key[1] in self.underlyings

    def drop_books(self, book_filter: Callable[[str], bool]) -> None:
        """Forget every book passing the filter (after its partition moved elsewhere)."""
        for key in [k for k in self.books if book_filter(k[0])]:
            br = self.books.pop(key)
            self.dirty.disown(br.totals.row)
            self.totals.give_back(br.totals.row)
            self.dirty.pop(key, None)
            self.by_underlying.get(key[1], {}).pop(key, None)
            for iid in br.positions:
                self.holders.get(iid, {}).pop(key, None)
        self.holder_cols.clear()
        for by_book in (self.book_windows, self.book_clocks):
            for book in [b for b in by_book if book_filter(b)]:
                del by_book[book]
        for table in (self.limits, self.margins, self.collateral):
            for key in [k for k in table if book_filter(k[0])]:
                del table[key]
        self.pnl.drop_books(book_filter)
        self.seen.drop_scopes(lambda scope: bool(scope) and book_filter(scope))
        self.chain.drop_books(book_filter)


__all__ = ["MARKET", "EngineState", "Key"]
