"""The block search of liquidation_distance finds exactly the step a full scan finds.

The reference below is SPEC.md's rule written the plain way: evaluate G at every step
p = ∓0.001·k in order, take the first with G ≤ 0, bisect from the step before.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.portfolio import LoanLegs, LpLegs
from greekstream.core.scenarios import (
    BISECT_TOL,
    DOWN_STEPS,
    UP_STEPS,
    liquidation_distance,
    pnl,
    split_by_direction,
)
from tests.unit.scenarios.slices import random_book

pytestmark = pytest.mark.timeout(120)


def full_scan(s, cushion: float, direction: float, steps: int) -> float | None:  # type: ignore[no-untyped-def]
    k = np.arange(1, steps + 1, dtype=np.float64)
    g = cushion + pnl(s, direction * k / 1000.0)
    hits = np.flatnonzero(g <= 0.0)
    if not hits.size:
        return None
    first = float(k[hits[0]])
    alive, dead = direction * (first - 1.0) / 1000.0, direction * first / 1000.0
    while abs(dead - alive) >= BISECT_TOL:
        mid = 0.5 * (alive + dead)
        if cushion + float(pnl(s, np.array([mid]))[0]) <= 0.0:
            dead = mid
        else:
            alive = mid
    return 0.5 * (alive + dead)


def with_onchain(s, seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    spot = float(s.index_price)
    n = 4
    loans = LoanLegs(
        coll_amount=rng.uniform(0, 10, n), coll_price=np.full(n, spot),
        debt_amount=rng.uniform(0, 10, n), debt_price=np.full(n, spot),
        liquidation_threshold=np.full(n, 0.8), coll_is_underlying=rng.random(n) < 0.7,
        debt_is_underlying=rng.random(n) < 0.5,
    )
    lower = spot * rng.uniform(0.5, 1.0, 2)
    lps = LpLegs(liquidity=rng.uniform(0, 500, 2), price_lower=lower,
                 price_upper=lower * rng.uniform(1.1, 2.0, 2))
    from dataclasses import replace

    return replace(s, loans=loans, lps=lps)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), cushion_frac=st.floats(0.001, 3.0),
       onchain=st.booleans())
def test_block_search_equals_the_full_scan(seed: int, cushion_frac: float,
                                           onchain: bool) -> None:
    s = random_book(seed, n_opt=12)
    if onchain:
        s = with_onchain(s, seed)
    # a cushion on the scale of the book's largest P&L on the way, so crossings happen
    scale = float(np.max(np.abs(pnl(s, np.linspace(-0.99, 10.0, 400))))) + 1.0
    cushion = cushion_frac * scale * 0.3
    got = liquidation_distance(s, cushion + 1_000.0, 1_000.0)
    assert got.move_down == full_scan(s, cushion, -1.0, DOWN_STEPS)
    assert got.move_up == full_scan(s, cushion, 1.0, UP_STEPS)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), onchain=st.booleans())
def test_the_split_is_monotone_and_sums_to_the_book(seed: int, onchain: bool) -> None:
    s = random_book(seed, n_opt=12)
    if onchain:
        s = with_onchain(s, seed)
    p = np.linspace(-0.99, 10.0, 2_000)
    rising, falling = split_by_direction(s)
    up, down = pnl(rising, p), pnl(falling, p)
    np.testing.assert_allclose(up + down, pnl(s, p), rtol=1e-9, atol=1e-6)
    tol = 1e-9 * (np.abs(up).max() + np.abs(down).max() + 1.0)
    assert np.all(np.diff(up) >= -tol)
    assert np.all(np.diff(down) <= tol)
