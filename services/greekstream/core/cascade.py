"""The liquidation cascade (docs/contract.md, *Liquidation cascade*): a shock to an asset's
price liquidates the loans it collateralises round by round, each round's sales moving the
price further; :func:`book_pnl` values each book at the final price. Vectorized over loans
within a round; the loan and LP kernels it uses are in :mod:`greekstream.core.onchain`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from greekstream.core.events import Loan
from greekstream.core.greeks import BoolArray, FloatArray
from greekstream.core.onchain import StrArray, asset_price, health_factor
from greekstream.core.portfolio import LoanLegs, PortfolioSlice
from greekstream.core.scenarios import pnl as scenario_pnl_at

MAX_ROUNDS = 50

# ----------------------------------------------------------------------------- cascade


@dataclass(frozen=True)
class LoanArrays:
    """Loans as parallel arrays (one entry per loan)."""

    coll_asset: StrArray
    coll: FloatArray
    debt_asset: StrArray
    debt: FloatArray
    lt: FloatArray
    bonus: FloatArray
    cf: FloatArray
    book: StrArray
    position_id: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.coll.shape[0])

    @classmethod
    def of(cls, loans: Sequence[Loan]) -> LoanArrays:
        def col(name: str) -> FloatArray:
            return np.array([getattr(x, name) for x in loans], dtype=np.float64)

        def names(name: str) -> StrArray:
            return np.array([getattr(x, name) for x in loans], dtype=np.str_)

        return cls(
            coll_asset=names("collateral_asset"), coll=col("collateral_amount"),
            debt_asset=names("debt_asset"), debt=col("debt_amount"),
            lt=col("liquidation_threshold"), bonus=col("liquidation_bonus"),
            cf=col("close_factor"), book=names("book"),
            position_id=tuple(x.position_id for x in loans),
        )


@dataclass(frozen=True)
class CascadeRound:
    round: int
    price: float  # the round's price, before its sale
    liquidated: int
    sold_usd: float


@dataclass(frozen=True)
class CascadeResult:
    asset: str
    shock: float
    depth: float
    initial_price: float
    final_price: float
    rounds: tuple[CascadeRound, ...]
    coll_end: FloatArray
    debt_end: FloatArray
    seized: FloatArray  # collateral seized from each loan over all rounds
    loan_pnl: FloatArray  # per loan, USD
    book_loan_pnl: dict[str, float] = field(default_factory=dict)

    @property
    def price_move(self) -> float:
        """p = P_final/P0 − 1: the scenario the books' other positions are revalued at."""
        return self.final_price / self.initial_price - 1.0


def _prices_of(assets: StrArray, prices: Mapping[str, float]) -> FloatArray:
    names, inverse = np.unique(assets, return_inverse=True)
    table = np.array([asset_price(str(a), prices) for a in names], dtype=np.float64)
    result: FloatArray = table[inverse] if names.size else np.zeros(0, dtype=np.float64)
    return result


def run_cascade(
    loans: LoanArrays, prices: Mapping[str, float], asset: str, shock: float, depth: float,
    max_rounds: int = MAX_ROUNDS,
) -> CascadeResult:
    """docs/contract.md's round-by-round liquidation cascade of ``asset`` after a price shock.

    ``prices`` are the index prices (USD is 1 without one); ``depth`` is the USD of
    selling that moves the price down 1%. Only loans with ``asset`` as collateral can
    be liquidated; every price of ``asset`` (as collateral or as debt) is the round's.
    """
    if shock <= -1.0:
        raise ValueError(f"shock must be above -1 (a price cannot fall below zero), not {shock}")
    if depth <= 0.0:
        raise ValueError(f"depth must be positive (USD per 1% move), not {depth}")
    p0 = asset_price(asset, prices)
    coll_is = loans.coll_asset == asset
    debt_is = loans.debt_asset == asset
    p_c0 = np.where(coll_is, p0, _prices_of(loans.coll_asset, prices))
    p_d0 = np.where(debt_is, p0, _prices_of(loans.debt_asset, prices))
    coll, debt = loans.coll.copy(), loans.debt.copy()
    cand = np.flatnonzero(coll_is)
    rounds: list[CascadeRound] = []
    price = p0 * (1.0 + shock)
    for number in range(1, max_rounds + 1):
        step = _liquidate(coll, debt, loans, cand, debt_is[cand], p_d0[cand], price)
        if step is None:
            break
        liquidated, sold_usd = step
        rounds.append(CascadeRound(number, price, liquidated, sold_usd))
        price = price * max(0.0, 1.0 - sold_usd / (depth * 100.0))
    p_c1 = np.where(coll_is, price, p_c0)
    p_d1 = np.where(debt_is, price, p_d0)
    loan_pnl = (coll * p_c1 - debt * p_d1) - (loans.coll * p_c0 - loans.debt * p_d0)
    return CascadeResult(
        asset=asset, shock=shock, depth=depth, initial_price=p0, final_price=price,
        rounds=tuple(rounds), coll_end=coll, debt_end=debt, seized=loans.coll - coll,
        loan_pnl=loan_pnl, book_loan_pnl=_sum_by_book(loans.book, loan_pnl),
    )


def _liquidate(
    coll: FloatArray, debt: FloatArray, loans: LoanArrays, cand: npt.NDArray[np.intp],
    debt_is: BoolArray, p_d_other: FloatArray, price: float,
) -> tuple[int, float] | None:
    """One round at ``price``: updates coll/debt in place; None when nothing is liquidated."""
    c, d = coll[cand], debt[cand]
    p_d = np.where(debt_is, price, p_d_other)
    hf = health_factor(c, price, loans.lt[cand], d, p_d)
    hit = (c > 0.0) & (hf < 1.0)
    if not hit.any():
        return None
    idx = cand[hit]
    repaid = loans.cf[idx] * debt[idx]
    if price > 0.0:
        with np.errstate(over="ignore"):  # a price near 0: the claim overflows, capped below
            claim = repaid * p_d[hit] * (1.0 + loans.bonus[idx]) / price
        seized = np.minimum(coll[idx], claim)
    else:  # a price of zero: any repayment claims all the collateral (the limit)
        seized = coll[idx].copy()
    debt[idx] -= repaid
    coll[idx] -= seized
    return int(idx.size), float(np.sum(seized * price))


def _sum_by_book(books: StrArray, values: FloatArray) -> dict[str, float]:
    if not books.size:
        return {}
    names, inverse = np.unique(books, return_inverse=True)
    sums = np.bincount(inverse, weights=values, minlength=names.size)
    return {str(b): float(s) for b, s in zip(names, sums, strict=True)}


def touches(loans: LoanArrays, asset: str) -> BoolArray:
    result: BoolArray = (loans.coll_asset == asset) | (loans.debt_asset == asset)
    return result


def book_pnl(result: CascadeResult, loans: LoanArrays,
             slices: Sequence[PortfolioSlice]) -> dict[str, float]:
    """Each book's P&L in the cascaded asset, sorted by book.

    The scenario P&L of its other positions (options, futures, LPs, collateral; loans
    left out) at p = P_final/P0 − 1 with vol unchanged, plus the P&L of its loans.
    Books: those with a slice of the asset, and those with a loan touching it.
    """
    totals: dict[str, float] = {}
    move = np.array([result.price_move])
    for s in slices:
        if s.underlying != result.asset:
            continue
        others = replace(s, loans=LoanLegs())
        totals[s.book] = totals.get(s.book, 0.0) + float(scenario_pnl_at(others, move)[0])
    mask = touches(loans, result.asset)
    for book, value in _sum_by_book(loans.book[mask], result.loan_pnl[mask]).items():
        totals[book] = totals.get(book, 0.0) + value
    return dict(sorted(totals.items()))


def cascade_json(result: CascadeResult, books: Mapping[str, float]) -> dict[str, object]:
    """docs/contract.md's JSON shape of a cascade."""
    return {
        "asset": result.asset,
        "shock": result.shock,
        "depth": result.depth,
        "initial_price": result.initial_price,
        "final_price": result.final_price,
        "rounds": [
            {"round": r.round, "price": r.price, "liquidated": r.liquidated,
             "sold_usd": r.sold_usd}
            for r in result.rounds
        ],
        "books": [{"book": b, "pnl": v} for b, v in books.items()],
    }
