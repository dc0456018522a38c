"""On-chain positions as numpy kernels (docs/contract.md, *On-chain positions* and
*Liquidation cascade*).

Loans (lending protocols)::

    HF                  = coll·P_c·LT / (debt·P_d)     (debt = 0: a closed loan, HF = inf)
    delta               = +coll in the collateral asset, −debt in the debt asset
                          (summed per book by onchain_state.summarise)

Concentrated-liquidity LP against a USD stablecoin, with P clipped to [Pa, Pb]::

    x = L(1/√P − 1/√Pb)   y = L(√P − √Pa)   value = x·P + y   delta = x
    gamma = −L/(2P^{3/2}) strictly inside (Pa, Pb), 0 at and outside the edges
    (delta and gamma: onchain_state.lp_base_and_gamma, the engine's scalar twin)

Clipping makes the edges exact: below Pa, x = L(1/√Pa − 1/√Pb) and y = 0; above Pb,
x = 0 and y = L(√Pb − √Pa). The value is continuous across both edges.

The liquidation cascade (:func:`run_cascade`) is vectorized over loans within a round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from greekstream.core.events import Loan
from greekstream.core.greeks import FloatArray

USD = "USD"
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


@overload
def asset_price(asset: str, index: Mapping[str, float]) -> float: ...


@overload
def asset_price(asset: str, index: Mapping[str, float], required: Literal[False]) -> float | None:
    ...


def asset_price(asset: str, index: Mapping[str, float], required: bool = True) -> float | None:
    """An asset's USD price: 1 for USD, else its index. Without one it raises
    :class:`UnknownAssetError`, or (``required=False``) returns None."""
    if asset == USD:
        return 1.0
    price = index.get(asset)
    if price is None:
        if required:
            raise UnknownAssetError(asset)
        return None
    return float(price) if required else price


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

