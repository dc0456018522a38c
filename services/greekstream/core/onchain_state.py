"""On-chain state: provenance log per chain (for reorgs), loans and LP positions.

The latest non-retracted event per ``position_id`` is the position's state; a loan
with zero debt or an LP with zero liquidity is closed. A ``reorg`` retracts every
recorded event of that chain with ``block_number >= from_block``; the positions
fall back to their latest surviving event.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from greekstream.core import onchain
from greekstream.core.events import Collateral, Loan, LpPosition
from greekstream.core.records import record

OnChainEvent = Collateral | Loan | LpPosition
Position = Loan | LpPosition


@record
class Contribution:
    delta: float = 0.0
    gamma: float = 0.0
    positions: int = 0


NOTHING = Contribution()


def asset_price(asset: str, index: dict[str, float]) -> float | None:
    """An asset's USD price: its latest index, or 1 for the asset named USD; None without
    one (:func:`greekstream.core.onchain.asset_price`, which can also raise)."""
    return onchain.asset_price(asset, index, required=False)


def keys_of(ev: Position) -> list[tuple[str, str]]:
    """The (book, asset) exposures a position touches."""
    if isinstance(ev, Loan):
        keys = [(ev.book, ev.collateral_asset)]
        if ev.debt_asset != ev.collateral_asset:
            keys.append((ev.book, ev.debt_asset))
        return keys
    return [(ev.book, ev.base)]


def is_open(ev: Position) -> bool:
    if isinstance(ev, Loan):
        return ev.debt_amount > 0.0
    return ev.liquidity > 0.0


def lp_base_and_gamma(
    liquidity: float, lower: float, upper: float, price: float
) -> tuple[float, float]:
    """A concentrated-liquidity position's base amount x (its delta) and gamma at ``price``.

    Scalar twin of :func:`greekstream.core.onchain.lp_amounts` for the engine's hot path.
    """
    if price <= lower:
        return liquidity * (1.0 / math.sqrt(lower) - 1.0 / math.sqrt(upper)), 0.0
    if price >= upper:
        return 0.0, 0.0
    x = liquidity * (1.0 / math.sqrt(price) - 1.0 / math.sqrt(upper))
    return x, -liquidity / (2.0 * price**1.5)


@dataclass(slots=True)
class BookPositions:
    """One book's open positions summarised per asset, in position_id order.

    Built once per change of the book's positions, so an exposure report reads its
    loans' delta in O(1) and only walks the LP positions of its own base (whose delta
    depends on the price). Sorting by position_id makes the floating-point sums
    independent of arrival and recovery order.
    """

    loan_delta: dict[str, float]
    loan_count: dict[str, int]
    lps: dict[str, list[LpPosition]]


def summarise(positions: dict[str, Position]) -> BookPositions:
    loan_delta: dict[str, float] = {}
    loan_count: dict[str, int] = {}
    lps: dict[str, list[LpPosition]] = {}
    for _pid, p in sorted(positions.items()):
        if isinstance(p, Loan):
            assets = dict.fromkeys((p.collateral_asset, p.debt_asset))
            loan_delta[p.collateral_asset] = (
                loan_delta.get(p.collateral_asset, 0.0) + p.collateral_amount
            )
            loan_delta[p.debt_asset] = loan_delta.get(p.debt_asset, 0.0) - p.debt_amount
            for asset in assets:
                loan_count[asset] = loan_count.get(asset, 0) + 1
        else:
            lps.setdefault(p.base, []).append(p)
    return BookPositions(loan_delta, loan_count, lps)


@dataclass
class ChainState:
    log: dict[str, list[OnChainEvent]] = field(default_factory=dict)
    # each position's events, keyed by (book, position_id): a book's position is its own,
    # whatever another book calls one of its positions (a processor sees its books only)
    history: dict[tuple[str, str], list[Position]] = field(default_factory=dict)
    open_by_book: dict[str, dict[str, Position]] = field(default_factory=dict)
    _summaries: dict[str, BookPositions] = field(default_factory=dict)

    def record(self, ev: OnChainEvent) -> None:
        if ev.chain is not None and ev.block_number is not None:
            self.log.setdefault(ev.chain, []).append(ev)

    def set_position(self, ev: Position) -> None:
        key = (ev.book, ev.position_id)
        self.history.setdefault(key, []).append(ev)
        self._refresh(key)

    def _refresh(self, key: tuple[str, str]) -> None:
        book, position_id = key
        events = self.history.get(key, [])
        book_positions = self.open_by_book.get(book)
        if book_positions is not None and book_positions.pop(position_id, None) is not None:
            self._summaries.pop(book, None)
        if not events:
            self.history.pop(key, None)
            return
        latest = events[-1]
        if is_open(latest):
            self.open_by_book.setdefault(book, {})[position_id] = latest
            self._summaries.pop(book, None)

    def retract(self, chain: str, from_block: int) -> list[OnChainEvent]:
        """Remove and return every recorded event of ``chain`` at or after ``from_block``."""
        events = self.log.get(chain, [])
        kept = [e for e in events if e.block_number is None or e.block_number < from_block]
        gone = [e for e in events if e.block_number is not None and e.block_number >= from_block]
        self.log[chain] = kept
        touched: dict[tuple[str, str], None] = {}
        for old in gone:
            if isinstance(old, Loan | LpPosition):
                key = (old.book, old.position_id)
                history = self.history.get(key, [])
                # by event_id, not identity: after a snapshot restore the log and the
                # history hold separately decoded copies of the same event
                self.history[key] = [e for e in history if e.event_id != old.event_id]
                touched[key] = None
        for key in touched:
            self._refresh(key)
        return gone

    def drop_books(self, book_filter: Callable[[str], bool]) -> None:
        for chain, events in self.log.items():
            self.log[chain] = [e for e in events if not book_filter(e.book)]
        for key in [k for k in self.history if book_filter(k[0])]:
            del self.history[key]
        for book in [b for b in self.open_by_book if book_filter(b)]:
            del self.open_by_book[book]
            self._summaries.pop(book, None)

    def positions(self, book: str) -> list[Position]:
        """The book's open positions in position_id order (not arrival order, which a
        snapshot restore does not keep: sums over them must not depend on it)."""
        return [p for _pid, p in sorted(self.open_by_book.get(book, {}).items())]

    def all_positions(self) -> list[Position]:
        return [p for book in sorted(self.open_by_book) for p in self.positions(book)]

    def loans(self, book: str | None = None) -> list[Loan]:
        """Open loans (of one book, or of all), in position_id order."""
        positions = self.positions(book) if book is not None else self.all_positions()
        return [p for p in positions if isinstance(p, Loan)]

    def summary(self, book: str) -> BookPositions | None:
        positions = self.open_by_book.get(book)
        if not positions:
            return None
        cached = self._summaries.get(book)
        if cached is None:
            cached = self._summaries[book] = summarise(positions)
        return cached

    def contribution(self, book: str, asset: str, index: dict[str, float]) -> Contribution:
        """Delta (coin), gamma and position count that loans and LPs add to (book, asset)."""
        summary = self.summary(book)
        if summary is None:
            return NOTHING
        delta = summary.loan_delta.get(asset, 0.0)
        count = summary.loan_count.get(asset, 0)
        gamma = 0.0
        lps = summary.lps.get(asset)
        if lps:
            price = index.get(asset)
            for p in lps:
                if price is not None:
                    x, g = lp_base_and_gamma(p.liquidity, p.price_lower, p.price_upper, price)
                    delta += x
                    gamma += g
                count += 1
        return Contribution(delta, gamma, count) if count else NOTHING
