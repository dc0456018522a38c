"""Builders of PortfolioSlices (arrays) for the scenario tests."""

from __future__ import annotations

import numpy as np

from greekstream.core.portfolio import (
    InverseLegs,
    LinearLegs,
    LoanLegs,
    LpLegs,
    OptionLegs,
    PortfolioSlice,
)


def f64(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float64)


def options(q, forward, strike, vol, years, is_call, inverse=None) -> OptionLegs:  # type: ignore[no-untyped-def]
    n = len(q)
    return OptionLegs(
        q=np.asarray(q, float), forward=np.asarray(forward, float),
        strike=np.asarray(strike, float), vol=np.asarray(vol, float),
        years=np.asarray(years, float), is_call=np.asarray(is_call, bool),
        inverse=np.zeros(n, bool) if inverse is None else np.asarray(inverse, bool),
        instrument_ids=tuple(f"opt-{i}" for i in range(n)),
    )


def make(index: float | None = 60_000.0, collateral: float = 0.0,
         opts: OptionLegs | None = None, linear: LinearLegs | None = None,
         inverse: InverseLegs | None = None, loans: LoanLegs | None = None,
         lps: LpLegs | None = None) -> PortfolioSlice:
    return PortfolioSlice(
        book="desk-a", underlying="BTC", as_of_us=0, index_price=index, collateral=collateral,
        options=opts or OptionLegs(), linear=linear or LinearLegs(),
        inverse=inverse or InverseLegs(), loans=loans or LoanLegs(), lps=lps or LpLegs(),
    )


def linear(q: list[float], mark: list[float]) -> LinearLegs:
    return LinearLegs(q=np.asarray(q, float), mark=np.asarray(mark, float))


def inverse(n: list[float], size: list[float], mark: list[float]) -> InverseLegs:
    return InverseLegs(n=np.asarray(n, float), contract_size=np.asarray(size, float),
                       mark=np.asarray(mark, float))


def random_book(seed: int, n_opt: int = 20, spot: float = 60_000.0) -> PortfolioSlice:
    """Calls and puts, linear and inverse, 1 day to 1 year, vol 20%–150%, strikes ±60%."""
    rng = np.random.default_rng(seed)
    fwd = spot * rng.uniform(0.98, 1.05, n_opt)
    opts = options(
        q=rng.normal(0.0, 5.0, n_opt), forward=fwd,
        strike=fwd * np.exp(rng.uniform(-0.6, 0.6, n_opt)), vol=rng.uniform(0.2, 1.5, n_opt),
        years=np.exp(rng.uniform(np.log(1 / 365), 0.0, n_opt)),
        is_call=rng.random(n_opt) < 0.5, inverse=rng.random(n_opt) < 0.5,
    )
    return make(
        index=spot, collateral=float(rng.uniform(-5, 20)), opts=opts,
        linear=linear(list(rng.normal(0, 3, 3)), list(spot * rng.uniform(0.99, 1.03, 3))),
        inverse=inverse(list(np.round(rng.normal(0, 5_000, 2))), [10.0, 100.0],
                        list(spot * rng.uniform(0.99, 1.03, 2))),
    )
