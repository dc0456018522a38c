"""Historical VaR and expected shortfall by full revaluation (docs/contract.md, *Historical VaR and
expected shortfall*).

Scenario j moves every underlying U of a book at once: p_U = exp(r_Uj) − 1 and
v_U = Δσ_Uj (0 without a vol column), time unchanged. A book's P&L in scenario j is
the sum over its (book, underlying) slices of the slice's full-revaluation P&L at
(p_U, v_U): options, futures, perpetuals, spot, collateral, loans and LPs. A loan
touching two assets is in both slices and each moves only its own leg; its P&L
Δ(coll·P_c − debt·P_d) is linear in each leg, so the two parts add up to the joint
change exactly.

With N scenarios and k = ceil((1 − confidence)·N):

    var = −(k-th smallest P&L)        es = −(mean of the k smallest P&Ls)

Stablecoins (USD, USDC, USDT, DAI) are never shocked. A book with a non-stable
underlying that the returns do not cover cannot be valued (:class:`MissingReturns`);
the streaming form reports such underlyings as ``unshocked`` instead.

Every slice is one numpy pass over positions × scenarios (:func:`scenarios.pnl`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

import numpy as np

from greekstream.core.events import VarEvent, build
from greekstream.core.greeks import FloatArray
from greekstream.core.portfolio import PortfolioSlice
from greekstream.core.scenarios import STABLECOINS, pnl

DEFAULT_CONFIDENCE = 0.99


class MissingReturns(ValueError):
    """A book holds an underlying (not a stablecoin) the returns have no column for."""

    def __init__(self, book: str, underlyings: Sequence[str]) -> None:
        names = ", ".join(underlyings)
        super().__init__(f"book {book} holds {names}, which the returns do not cover")
        self.book = book
        self.underlyings = tuple(underlyings)


@dataclass(frozen=True)
class Returns:
    """Daily joint moves: one row per date, per underlying a log return and a vol change.

    ``log_returns[U][j]`` is r_Uj; ``vol_changes[U][j]`` is Δσ_Uj (absolute), absent
    for an underlying without a vol column.
    """

    dates: tuple[str, ...]
    log_returns: Mapping[str, FloatArray]
    vol_changes: Mapping[str, FloatArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.dates)
        if n == 0:
            raise ValueError("returns without a single date")
        for table in (self.log_returns, self.vol_changes):
            for u, col in table.items():
                if col.shape != (n,):
                    raise ValueError(f"returns of {u}: {col.shape[0]} rows for {n} dates")
                if not np.isfinite(col).all():
                    raise ValueError(f"returns of {u}: a non-finite value")

    def __len__(self) -> int:
        return len(self.dates)

    @property
    def underlyings(self) -> tuple[str, ...]:
        return tuple(self.log_returns)

    @cached_property
    def price_shocks(self) -> dict[str, FloatArray]:
        """p = exp(r) − 1 per underlying, once (expm1: exact for small r)."""
        return {u: np.expm1(r) for u, r in self.log_returns.items()}

    def price_shock(self, underlying: str) -> FloatArray:
        return self.price_shocks[underlying]

    def vol_shock(self, underlying: str) -> FloatArray | None:
        return self.vol_changes.get(underlying)


@dataclass(frozen=True)
class BookVar:
    """One book's scenario P&Ls (in the returns' date order) and their VaR and ES."""

    book: str
    as_of_us: int
    confidence: float
    dates: tuple[str, ...]
    pnl: FloatArray
    var: float
    es: float
    tail: int  # k, the number of scenarios in the tail
    worst_index: int
    unshocked: tuple[str, ...] = ()

    @property
    def worst_date(self) -> str:
        return self.dates[self.worst_index]

    @property
    def scenarios(self) -> int:
        return len(self.dates)


def tail_size(confidence: float, scenarios: int) -> int:
    """k = ceil((1 − confidence)·N), in exact decimal arithmetic: with the float product,
    (1 − 0.99)·100 is 1.0000000000000009 and would round up to 2."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, not {confidence}")
    if scenarios < 1:
        raise ValueError("no scenarios")
    return max(1, math.ceil((1 - Fraction(repr(float(confidence)))) * scenarios))


def var_es(values: FloatArray, confidence: float) -> tuple[float, float, int]:
    """(var, es, k) of scenario P&Ls (USD, gains positive)."""
    k = tail_size(confidence, int(values.shape[0]))
    tail = np.sort(values)[:k]
    # + 0.0: a flat book reports 0, not −0
    return -float(tail[k - 1]) + 0.0, -float(np.mean(tail)) + 0.0, k


def slice_pnl(s: PortfolioSlice, returns: Returns) -> FloatArray | None:
    """The slice's P&L in each scenario; zeros for a stablecoin; None when the returns do
    not cover its underlying."""
    n = len(returns)
    if s.underlying in STABLECOINS:
        return np.zeros(n, dtype=np.float64)
    if s.underlying not in returns.log_returns:
        return None
    return pnl(s, returns.price_shock(s.underlying), returns.vol_shock(s.underlying),
               None)


def book_var(
    book: str, slices: Sequence[PortfolioSlice], returns: Returns, as_of_us: int,
    confidence: float = DEFAULT_CONFIDENCE, strict: bool = True,
) -> BookVar:
    """VaR and ES of one book over all its slices. ``strict``: an uncovered underlying
    raises :class:`MissingReturns`; otherwise it is left unshocked and named."""
    total = np.zeros(len(returns), dtype=np.float64)
    missing: list[str] = []
    for s in slices:
        values = slice_pnl(s, returns)
        if values is None:
            missing.append(s.underlying)
        else:
            total += values
    if missing and strict:
        raise MissingReturns(book, missing)
    var, es, k = var_es(total, confidence)
    return BookVar(book, as_of_us, confidence, returns.dates, total, var, es, k,
                   int(np.argmin(total)), tuple(missing))


def portfolio_var(
    slices: Sequence[PortfolioSlice], returns: Returns, as_of_us: int,
    confidence: float = DEFAULT_CONFIDENCE, strict: bool = True,
) -> list[BookVar]:
    """Every book's VaR and ES, sorted by book."""
    by_book: dict[str, list[PortfolioSlice]] = {}
    for s in slices:
        by_book.setdefault(s.book, []).append(s)
    return [book_var(b, by_book[b], returns, as_of_us, confidence, strict)
            for b in sorted(by_book)]


def var_events(
    slices: Sequence[PortfolioSlice], returns: Returns, confidence: float, *, ts_us: int,
    caused_by: str,
) -> list[VarEvent]:
    """The streamed form: one `var` output per book (sorted), at ``ts_us``; an underlying
    the returns do not cover is left unshocked and named, never an error."""
    return [
        build(VarEvent, event_id=f"var:{caused_by}:{r.book}", ts=ts_us, book=r.book,
              as_of=ts_us, confidence=confidence, scenarios=r.scenarios, var=r.var, es=r.es,
              worst_date=r.worst_date, worst_pnl=float(r.pnl[r.worst_index]),
              first_date=r.dates[0], last_date=r.dates[-1], pnl=r.pnl.tolist(),
              unshocked=list(r.unshocked), caused_by=caused_by)
        for r in portfolio_var(slices, returns, ts_us, confidence, strict=False)
    ]
