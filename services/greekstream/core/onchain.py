"""On-chain positions as numpy kernels (docs/contract.md, *On-chain positions* and
*Liquidation cascade*).

Loans (lending protocols)::

    HF                  = coll·P_c·LT / (debt·P_d)     (debt = 0: a closed loan, HF = inf)
    liquidation price   = debt·P_d / (coll·LT)          (of the collateral, debt price fixed)
    delta               = +coll in the collateral asset, −debt in the debt asset

Concentrated-liquidity LP against a USD stablecoin, with P clipped to [Pa, Pb]::

    x = L(1/√P − 1/√Pb)   y = L(√P − √Pa)   value = x·P + y   delta = x
    gamma = −L/(2P^{3/2}) strictly inside (Pa, Pb), 0 at and outside the edges

Clipping makes the edges exact: below Pa, x = L(1/√Pa − 1/√Pb) and y = 0; above Pb,
x = 0 and y = L(√Pb − √Pa). The value is continuous across both edges.

The liquidation cascade (:func:`run_cascade`) is vectorized over loans within a round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from greekstream.core.events import Loan
from greekstream.core.greeks import BoolArray, FloatArray
from greekstream.core.portfolio import LoanLegs, PortfolioSlice
from greekstream.core.scenarios import pnl as scenario_pnl_at

USD = "USD"
MAX_ROUNDS = 50
ArrayLike = npt.ArrayLike
StrArray = npt.NDArray[np.str_]


class UnknownAssetError(ValueError):
    """An asset other than USD without an index price: the loan or query cannot be valued."""

    def __init__(self, asset: str) -> None:
        super().__init__(
            f"asset {asset} has no index price (only USD is priced without one); "
            "publish an index event for it first"
        )
        self.asset = asset


def asset_price(asset: str, index: Mapping[str, float]) -> float:
    """An asset's USD price: 1 for USD, else its index; raises :class:`UnknownAssetError`."""
    if asset == USD:
        return 1.0
    price = index.get(asset)
    if price is None:
        raise UnknownAssetError(asset)
    return float(price)


def resolve_prices(assets: Iterable[str], index: Mapping[str, float]) -> dict[str, float]:
    """Prices of every named asset (first missing one raises :class:`UnknownAssetError`)."""
    return {a: asset_price(a, index) for a in dict.fromkeys(assets)}


# ----------------------------------------------------------------------------- loans


def _f64(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def health_factor(
    coll: ArrayLike, p_c: ArrayLike, lt: ArrayLike, debt: ArrayLike, p_d: ArrayLike
) -> FloatArray:
    """coll·P_c·LT / (debt·P_d); a loan with no debt value (closed) has HF = inf."""
    debt_value = _f64(debt) * _f64(p_d)
    coll_value = _f64(coll) * _f64(p_c) * _f64(lt)
    safe = np.where(debt_value > 0.0, debt_value, 1.0)
    with np.errstate(over="ignore"):  # a dust debt: HF overflows to inf, which is right
        ratio = coll_value / safe
    result: FloatArray = np.where(debt_value > 0.0, ratio, np.inf)
    return result


def collateral_liquidation_price(
    debt: ArrayLike, p_d: ArrayLike, coll: ArrayLike, lt: ArrayLike
) -> FloatArray:
    """debt·P_d / (coll·LT): the collateral price at which HF = 1 (debt price fixed).

    No debt: 0 (never liquidated). Debt without collateral: inf (liquidatable at any price).
    """
    debt_value = _f64(debt) * _f64(p_d)
    coll_units = _f64(coll) * _f64(lt)
    safe = np.where(coll_units > 0.0, coll_units, 1.0)
    with np.errstate(over="ignore"):
        price = np.where(coll_units > 0.0, debt_value / safe, np.inf)
    result: FloatArray = np.where(debt_value > 0.0, price, 0.0)
    return result


def loan_delta(
    coll_asset: ArrayLike, coll: ArrayLike, debt_asset: ArrayLike, debt: ArrayLike, asset: str
) -> FloatArray:
    """Each loan's delta in ``asset`` (coin): +coll if it is the collateral, −debt if the debt."""
    add = np.where(np.asarray(coll_asset) == asset, _f64(coll), 0.0)
    sub = np.where(np.asarray(debt_asset) == asset, _f64(debt), 0.0)
    result: FloatArray = add - sub
    return result


def loan_deltas(loan: Loan) -> dict[str, float]:
    """One loan's delta per asset it touches (a same-asset loan nets to coll − debt)."""
    deltas = {loan.collateral_asset: loan.collateral_amount}
    deltas[loan.debt_asset] = deltas.get(loan.debt_asset, 0.0) - loan.debt_amount
    return deltas


def lowest_health_factor(loans: Sequence[Loan], asset: str,
                         index: Mapping[str, float]) -> float | None:
    """The lowest HF among the loans touching ``asset`` (the ``health_factor`` breach value).

    None when no loan touches it; closed loans (no debt) count as inf. Raises
    :class:`UnknownAssetError` for a price that is missing.
    """
    mine = [x for x in loans if asset in (x.collateral_asset, x.debt_asset)]
    if not mine:
        return None
    hf = health_factor(
        [x.collateral_amount for x in mine],
        [asset_price(x.collateral_asset, index) for x in mine],
        [x.liquidation_threshold for x in mine],
        [x.debt_amount for x in mine],
        [asset_price(x.debt_asset, index) for x in mine],
    )
    return float(hf.min())


# ----------------------------------------------------------------------------- LP positions


def lp_amounts(
    liquidity: ArrayLike, lower: ArrayLike, upper: ArrayLike, price: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """(x, y): base and stable amounts of concentrated-liquidity positions at ``price``."""
    lo, hi = _f64(lower), _f64(upper)
    p = np.clip(_f64(price), lo, hi)
    big_l = _f64(liquidity)
    x: FloatArray = big_l * (1.0 / np.sqrt(p) - 1.0 / np.sqrt(hi))
    y: FloatArray = big_l * (np.sqrt(p) - np.sqrt(lo))
    return x, y


def lp_value(liquidity: ArrayLike, lower: ArrayLike, upper: ArrayLike,
             price: ArrayLike) -> FloatArray:
    """x·P + y in USD."""
    x, y = lp_amounts(liquidity, lower, upper, price)
    result: FloatArray = x * _f64(price) + y
    return result


def lp_delta(liquidity: ArrayLike, lower: ArrayLike, upper: ArrayLike,
             price: ArrayLike) -> FloatArray:
    """d value / dP = x (base coin)."""
    return lp_amounts(liquidity, lower, upper, price)[0]


def lp_gamma(liquidity: ArrayLike, lower: ArrayLike, upper: ArrayLike,
             price: ArrayLike) -> FloatArray:
    """−L/(2P^{3/2}) strictly inside the range, 0 at and outside its edges."""
    p = _f64(price)
    inside = (p > _f64(lower)) & (p < _f64(upper))
    safe = np.where(p > 0.0, p, 1.0)
    result: FloatArray = np.where(inside, -_f64(liquidity) / (2.0 * safe**1.5), 0.0)
    return result


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
