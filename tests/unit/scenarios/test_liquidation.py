"""Liquidation distance (SPEC.md, *Liquidation distance*): hand-worked books and an
independent reference (a scalar scan of SPEC's steps, then Brent's method)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from greekstream.core.greeks import black76_scalar
from greekstream.core.scenarios import liquidation_distance, pnl
from tests.unit.scenarios.slices import linear, make, options

pytestmark = pytest.mark.timeout(60)

SPOT = 50_000.0


def test_linear_long_book_has_the_analytic_answer() -> None:
    # 10 BTC long at 50,000, equity 173,456, maintenance 50,000: G(p) = 123,456 + 500,000·p,
    # zero at p = −0.246912; the price only rising, there is no upward liquidation.
    s = make(index=SPOT, linear=linear([10.0], [SPOT]))
    liq = liquidation_distance(s, 173_456.0, 50_000.0)
    assert liq.move_down == pytest.approx(-0.246912, abs=5e-8)
    assert liq.price_down == pytest.approx(SPOT * (1 - 0.246912), rel=1e-6)
    assert liq.move_up is None and liq.price_up is None


def test_linear_short_book_with_collateral() -> None:
    # Short 10 BTC linear at 50,000 against 4 BTC of collateral (index 50,000): P&L(p) =
    # −500,000·p + 200,000·p = −300,000·p; cushion 60,000 → p = +0.2 up, none down.
    s = make(index=SPOT, collateral=4.0, linear=linear([-10.0], [SPOT]))
    liq = liquidation_distance(s, 90_000.0, 30_000.0)
    assert liq.move_up == pytest.approx(0.2, abs=5e-8)
    assert liq.price_up == pytest.approx(60_000.0, rel=1e-6)
    assert liq.move_down is None


def test_the_returned_move_is_the_midpoint_of_a_bracket_narrower_than_1e_7() -> None:
    s = make(index=SPOT, linear=linear([10.0], [SPOT]))
    liq = liquidation_distance(s, 173_456.0, 50_000.0)
    assert liq.move_down is not None
    # midpoint of a bracket of width < 1e-7 around the root: within 5e-8 of it
    assert abs(liq.move_down + 0.246912) < 5e-8


def test_no_crossing_in_range_is_none_both_ways() -> None:
    # Nothing at risk: the cushion never moves.
    liq = liquidation_distance(make(index=SPOT), 10_000.0, 1_000.0)
    assert liq == type(liq)(None, None, None, None)


def test_ranges_end_at_minus_99_and_plus_1000_percent() -> None:
    # Long 1 BTC at 50,000: G(p) = cushion + 50,000·p.
    s = make(index=SPOT, linear=linear([1.0], [SPOT]))
    assert liquidation_distance(s, 49_000.0, 0.0).move_down == pytest.approx(-0.98, abs=5e-8)
    assert liquidation_distance(s, 49_700.0, 0.0).move_down is None  # root at −0.994
    short = make(index=SPOT, linear=linear([-1.0], [SPOT]))
    assert liquidation_distance(short, 495_000.0, 0.0).move_up == pytest.approx(9.9, abs=5e-8)
    assert liquidation_distance(short, 505_000.0, 0.0).move_up is None  # root at +10.1


def test_already_below_maintenance_is_zero_both_ways() -> None:
    s = make(index=SPOT, linear=linear([10.0], [SPOT]))
    for equity in (40_000.0, 50_000.0):  # G(0) < 0 and G(0) = 0
        liq = liquidation_distance(s, equity, 50_000.0)
        assert (liq.move_down, liq.move_up) == (0.0, 0.0)
        assert (liq.price_down, liq.price_up) == (SPOT, SPOT)


def test_no_index_price_gives_moves_but_no_prices() -> None:
    s = make(index=None, linear=linear([10.0], [SPOT]))
    liq = liquidation_distance(s, 173_456.0, 50_000.0)
    assert liq.move_down == pytest.approx(-0.246912, abs=5e-8)
    assert liq.price_down is None


# ----------------------------------------------------------------------------- non-monotone


def _reference(legs: list[tuple[float, float, bool]], cushion: float, direction: int,
               steps: int) -> float | None:
    """SPEC's rule on Python floats: scan the steps, then solve in the bracket with Brent."""

    def g(p: float) -> float:
        f, years, vol = SPOT * (1 + p), 0.1, 0.6
        return cushion + sum(
            q * (black76_scalar(f, k, years, vol, call).value
                 - black76_scalar(SPOT, k, years, vol, call).value)
            for q, k, call in legs)

    for k in range(1, steps + 1):
        if g(direction * k / 1000) <= 0.0:
            return float(brentq(g, direction * (k - 1) / 1000, direction * k / 1000, xtol=1e-14))
    return None


def _book(legs: list[tuple[float, float, bool]]):  # type: ignore[no-untyped-def]
    n = len(legs)
    return make(index=SPOT, opts=options(
        [q for q, _, _ in legs], [SPOT] * n, [k for _, k, _ in legs], [0.6] * n, [0.1] * n,
        [c for _, _, c in legs]))


def test_short_straddle_liquidates_both_ways() -> None:
    # Short 20 calls and 20 puts at 50,000: P&L falls whichever way the price moves.
    legs = [(-20.0, SPOT, True), (-20.0, SPOT, False)]
    liq = liquidation_distance(_book(legs), 400_000.0, 150_000.0)
    down = _reference(legs, 250_000.0, -1, 990)
    up = _reference(legs, 250_000.0, +1, 10_000)
    assert down is not None and up is not None
    assert liq.move_down == pytest.approx(down, abs=1e-7, rel=1e-6)
    assert liq.move_up == pytest.approx(up, abs=1e-7, rel=1e-6)
    assert liq.move_down < 0 < liq.move_up
    assert liq.price_down == pytest.approx(SPOT * (1 + down), rel=1e-6)


def test_the_first_crossing_counts_not_a_later_recovery() -> None:
    # Short 40 puts at 45,000, long 100 puts at 30,000: G dips below 0 on the way down,
    # then the long puts pay and G is positive again in a crash. The near crossing counts.
    legs = [(-40.0, 45_000.0, False), (100.0, 30_000.0, False)]
    cushion = 100_000.0
    liq = liquidation_distance(_book(legs), cushion, 0.0)
    ref = _reference(legs, cushion, -1, 990)
    assert ref is not None and -0.5 < ref < 0
    assert liq.move_down == pytest.approx(ref, abs=1e-7, rel=1e-6)
    # guard: the book really recovers further down (G > 0 again in a crash)
    assert cushion + pnl(_book(legs), np.array([-0.8]))[0] > 0


def test_liquidation_price_formula() -> None:
    s = make(index=48_000.0, linear=linear([10.0], [SPOT]))
    liq = liquidation_distance(s, 173_456.0, 50_000.0)
    assert liq.move_down is not None and liq.price_down is not None
    assert math.isclose(liq.price_down, 48_000.0 * (1 + liq.move_down), rel_tol=1e-15)
