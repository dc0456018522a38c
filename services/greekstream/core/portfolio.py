"""A (book, underlying) as flat numpy arrays, valued at one moment: the input of every
full-revaluation computation (scenario grids, liquidation distance, cascades).

The engine builds slices (:meth:`greekstream.core.engine.Engine.slices`); the risk
kernels never see the engine's dictionaries. Positions whose value cannot be
known (an option or inverse future that has never been quoted) are left out and
counted in ``unvalued``.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

import numpy as np

from greekstream.core.greeks import BoolArray, FloatArray
from greekstream.core.records import record


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


def _empty_bool() -> BoolArray:
    return np.zeros(0, dtype=np.bool_)


@record
class OptionLegs:
    """Options: q = signed contracts × contract_size (coin); Black-76 inputs at the slice time."""

    q: FloatArray = field(default_factory=_empty)
    forward: FloatArray = field(default_factory=_empty)
    strike: FloatArray = field(default_factory=_empty)
    vol: FloatArray = field(default_factory=_empty)
    years: FloatArray = field(default_factory=_empty)
    is_call: BoolArray = field(default_factory=_empty_bool)
    inverse: BoolArray = field(default_factory=_empty_bool)
    instrument_ids: tuple[str, ...] = ()
    # what core/scenarios derives once per slice and reuses (the unshocked values); not
    # an init field, so a `replace` copy of the slice starts with its own
    memo: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)


@record
class LinearLegs:
    """Linear futures, perpetuals, spot: q = signed contracts × contract_size (coin) at mark."""

    q: FloatArray = field(default_factory=_empty)
    mark: FloatArray = field(default_factory=_empty)
    instrument_ids: tuple[str, ...] = ()
    # perpetuals: the last funding rate per hour (rate / interval_h; 0 otherwise)
    funding_per_h: FloatArray = field(default_factory=_empty)


@record
class InverseLegs:
    """Inverse futures, perpetuals: n = signed contracts, contract_size in USD, at mark."""

    n: FloatArray = field(default_factory=_empty)
    contract_size: FloatArray = field(default_factory=_empty)
    mark: FloatArray = field(default_factory=_empty)
    instrument_ids: tuple[str, ...] = ()
    funding_per_h: FloatArray = field(default_factory=_empty)  # as LinearLegs


@record
class LoanLegs:
    """Lending positions touching this underlying (as collateral, as debt, or both).

    Prices are the assets' index prices at the slice time; ``coll_is_underlying`` /
    ``debt_is_underlying`` say which leg the slice's price shock moves.
    """

    position_ids: tuple[str, ...] = ()
    coll_amount: FloatArray = field(default_factory=_empty)
    coll_price: FloatArray = field(default_factory=_empty)
    debt_amount: FloatArray = field(default_factory=_empty)
    debt_price: FloatArray = field(default_factory=_empty)
    liquidation_threshold: FloatArray = field(default_factory=_empty)
    coll_is_underlying: BoolArray = field(default_factory=_empty_bool)
    debt_is_underlying: BoolArray = field(default_factory=_empty_bool)


@record
class LpLegs:
    """Concentrated-liquidity positions with this underlying as base, against a USD stablecoin."""

    position_ids: tuple[str, ...] = ()
    liquidity: FloatArray = field(default_factory=_empty)
    price_lower: FloatArray = field(default_factory=_empty)
    price_upper: FloatArray = field(default_factory=_empty)


@record
class PortfolioSlice:
    book: str
    underlying: str
    as_of_us: int
    index_price: float | None
    collateral: float = 0.0
    options: OptionLegs = field(default_factory=OptionLegs)
    linear: LinearLegs = field(default_factory=LinearLegs)
    inverse: InverseLegs = field(default_factory=InverseLegs)
    loans: LoanLegs = field(default_factory=LoanLegs)
    lps: LpLegs = field(default_factory=LpLegs)
    unvalued: tuple[str, ...] = ()
