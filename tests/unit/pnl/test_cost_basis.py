"""Cost basis, realized and unrealized P&L, fees and funding (core/pnl.py): hand-worked
cases per instrument type, the properties SPEC.md's conventions imply, funding signs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.pnl import (
    INVERSE,
    LINEAR,
    OPTION,
    Lot,
    apply_trade,
    funding_payment,
    unrealized,
)

pytestmark = pytest.mark.timeout(60)


def run(trades: list[tuple[float, float, float]], size: float, harmonic: bool) -> Lot:
    lot = Lot()
    for signed, price, fee in trades:
        lot = apply_trade(lot, signed, price, fee, size, harmonic)
    return lot


# ----------------------------------------------------------------------------- by hand


def test_linear_option_by_hand() -> None:
    # buy 10 × 0.1 coin at 2000 (fee 1), sell 4 at 2500 (fee 0.5): realizes 4·0.1·500 = 200;
    # 6 contracts stay at 2000; valued at V = 2200: U = 6·0.1·200 = 120.
    lot = run([(10, 2000.0, 1.0), (-4, 2500.0, 0.5)], 0.1, harmonic=False)
    assert (lot.qty, lot.avg, lot.fees) == (6, 2000.0, 1.5)
    assert lot.realized == pytest.approx(200.0, rel=1e-15)
    assert unrealized(lot, 0.1, OPTION, 2200.0) == pytest.approx(120.0, rel=1e-15)


def test_inverse_option_is_marked_in_usd_like_a_linear_one() -> None:
    # docs/pnl.md: an inverse option's price and value are USD per coin; the same arithmetic.
    lot = run([(-3, 1500.0, 0.0), (1, 1000.0, 0.0)], 1.0, harmonic=False)
    assert lot.realized == pytest.approx(-1.0 * (1000.0 - 1500.0), rel=1e-15)  # +500
    assert unrealized(lot, 1.0, OPTION, 1200.0) == pytest.approx(-2 * (1200 - 1500), rel=1e-15)


def test_linear_future_by_hand() -> None:
    # 2 @ 50000 + 2 @ 52000 -> A = 51000; sell 3 @ 53000 -> R = 3·2000 = 6000; 1 left,
    # marked at 50000 -> U = −1000.
    lot = run([(2, 50000.0, 0.0), (2, 52000.0, 0.0), (-3, 53000.0, 0.0)], 1.0, False)
    assert lot.avg == 51000.0 and lot.qty == 1
    assert lot.realized == pytest.approx(6000.0, rel=1e-15)
    assert unrealized(lot, 1.0, LINEAR, 50000.0) == pytest.approx(-1000.0, rel=1e-15)


def test_inverse_perpetual_by_hand() -> None:
    # 10-USD contracts: 1000 @ 40000 + 1000 @ 50000 -> harmonic A = 2000/(0.025 + 0.02)
    # = 44444.44; sell 500 @ 45000 -> R = 5000·(45000/A − 1) = 5000·0.0125 = 62.5;
    # 1500 left at M = 48000 -> U = 15000·(48000/A − 1) = 15000·0.08 = 1200.
    lot = run([(1000, 40000.0, 0.0), (1000, 50000.0, 0.0), (-500, 45000.0, 0.0)], 10.0, True)
    assert lot.avg == pytest.approx(2000 / 0.045, rel=1e-15)
    assert lot.realized == pytest.approx(62.5, rel=1e-12)
    assert unrealized(lot, 10.0, INVERSE, 48000.0) == pytest.approx(1200.0, rel=1e-12)


def test_spot_flip_by_hand() -> None:
    # buy 1.5 @ 3000, sell 2.5 @ 3100: realizes 1.5·100 = 150 and opens −1 at 3100;
    # at 3000 the short is up 100.
    lot = run([(1.5, 3000.0, 0.0), (-2.5, 3100.0, 0.0)], 1.0, False)
    assert (lot.qty, lot.avg) == (-1.0, 3100.0)
    assert lot.realized == pytest.approx(150.0, rel=1e-15)
    assert unrealized(lot, 1.0, LINEAR, 3000.0) == pytest.approx(100.0, rel=1e-15)


def test_unpriced_position_is_held_at_cost() -> None:
    assert unrealized(Lot(2.0, 100.0), 1.0, OPTION, None) == 0.0


@pytest.mark.parametrize(("inverse", "size", "mark", "per_long"), [
    (False, 0.001, 50000.0, -0.001 * 50000.0 * 0.0001),  # linear: −q·m·M·rate
    (True, 10.0, 50000.0, -10.0 * 0.0001),  # inverse: −q·cs·rate
])
def test_funding_a_long_pays_on_a_positive_rate(inverse: bool, size: float, mark: float,
                                                per_long: float) -> None:
    assert per_long < 0
    assert funding_payment(1.0, size, inverse, 0.0001, mark) == pytest.approx(per_long)
    assert funding_payment(-1.0, size, inverse, 0.0001, mark) == pytest.approx(-per_long)
    assert funding_payment(1.0, size, inverse, -0.0001, mark) == pytest.approx(-per_long)


# ----------------------------------------------------------------------------- properties

prices = st.floats(100.0, 100_000.0)
sizes = st.floats(0.01, 50.0)
kinds = st.sampled_from([(OPTION, 0.1, False), (LINEAR, 1.0, False), (INVERSE, 10.0, True)])


def total_pnl(lot: Lot, size: float, kind: str, mark: float) -> float:
    return lot.realized + unrealized(lot, size, kind, mark) - lot.fees


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(sizes, st.booleans(), prices), min_size=0, max_size=6), sizes,
       st.booleans(), prices, st.integers(2, 5), prices, kinds)
def test_realized_plus_unrealized_does_not_depend_on_splitting_a_trade(
    history: list[tuple[float, bool, float]], qty: float, buy: bool, price: float, pieces: int,
    mark: float, kind: tuple[str, float, bool],
) -> None:
    name, size, harmonic = kind
    before = run([(q if b else -q, p, 0.0) for q, b, p in history], size, harmonic)
    signed = qty if buy else -qty
    whole = apply_trade(before, signed, price, 0.0, size, harmonic)
    split = before
    for _ in range(pieces):
        split = apply_trade(split, signed / pieces, price, 0.0, size, harmonic)
    scale = sum(abs(q) * size * max(p, mark) for q, _, p in history) + abs(qty) * size * max(
        price, mark) + 1.0
    if harmonic:
        scale *= max(mark, price) / min(p for _, _, p in [(0, 0, price), *history])
    assert math.isclose(total_pnl(split, size, name, mark), total_pnl(whole, size, name, mark),
                        rel_tol=1e-9, abs_tol=1e-9 * scale)


@settings(max_examples=300, deadline=None)
@given(sizes, st.booleans(), prices, st.floats(0.0, 10.0), st.floats(0.0, 10.0), prices, kinds)
def test_a_round_trip_at_one_price_realizes_nothing_and_costs_the_fees(
    qty: float, buy: bool, price: float, fee_in: float, fee_out: float, mark: float,
    kind: tuple[str, float, bool],
) -> None:
    name, size, harmonic = kind
    signed = qty if buy else -qty
    lot = run([(signed, price, fee_in), (-signed, price, fee_out)], size, harmonic)
    assert lot.qty == 0.0
    assert abs(lot.realized) <= 1e-9 * qty * size * price
    assert total_pnl(lot, size, name, mark) == pytest.approx(-(fee_in + fee_out), abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(sizes, sizes, st.booleans(), prices, prices, kinds)
def test_flipping_through_zero_opens_at_the_trade_price(
    held: float, extra: float, long: bool, entry: float, price: float,
    kind: tuple[str, float, bool],
) -> None:
    _, size, harmonic = kind
    q = held if long else -held
    flip = -(q + (extra if long else -extra))
    lot = run([(q, entry, 0.0), (flip, price, 0.0)], size, harmonic)
    assert (lot.qty > 0) != long
    assert lot.qty == pytest.approx(-(extra if long else -extra), rel=1e-12)
    assert lot.avg == price
