"""What the cascade guarantees, on random populations (hypothesis), and a loop reference."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from greekstream.core.cascade import LoanArrays, book_pnl, run_cascade
from greekstream.core.onchain import UnknownAssetError
from greekstream.core.portfolio import LinearLegs, LoanLegs
from tests.unit.scenarios.slices import f64, make

from .population import DEPTH, PRICES, SHOCK, loans

pytestmark = pytest.mark.timeout(60)
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

loan_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["ETH", "ETH", "ETH", "WBTC"]),
        st.floats(0.0, 50.0),
        st.sampled_from(["USD", "USDC", "ETH"]),
        st.floats(0.0, 100_000.0),
        st.floats(0.5, 0.95),
        st.floats(0.0, 0.15),
        st.floats(0.05, 1.0),
    ),
    min_size=1, max_size=25,
)
shocks = st.floats(-0.9, 0.2)
depths = st.floats(10.0, 1e6)
POP_PRICES = {"ETH": 2000.0, "WBTC": 60_000.0, "USDC": 0.999}


def arrays(rows: list[tuple]) -> LoanArrays:  # type: ignore[type-arg]
    cols = list(zip(*rows, strict=True))
    return LoanArrays(
        book=np.array(cols[0], dtype=np.str_), coll_asset=np.array(cols[1], dtype=np.str_),
        coll=f64(*cols[2]), debt_asset=np.array(cols[3], dtype=np.str_), debt=f64(*cols[4]),
        lt=f64(*cols[5]), bonus=f64(*cols[6]), cf=f64(*cols[7]),
    )


def reference(rows: list[tuple], prices: dict[str, float], asset: str,  # type: ignore[type-arg]
              shock: float, depth: float) -> tuple[list[tuple[int, float, int, float]], float]:
    """SPEC's rules written as plain loops over loans, independent of the kernel."""
    state = [[r[2], r[4]] for r in rows]
    price = prices[asset] * (1 + shock)
    out = []
    for number in range(1, 51):
        count, sold = 0, 0.0
        for (_, ca, _, da, _, lt, bonus, cf), s in zip(rows, state, strict=True):
            p_d = price if da == asset else prices.get(da, 1.0)
            if ca != asset or s[0] <= 0 or s[1] * p_d <= 0:
                continue
            if s[0] * price * lt / (s[1] * p_d) >= 1:
                continue
            repaid = cf * s[1]
            seized = min(s[0], repaid * p_d * (1 + bonus) / price) if price > 0 else s[0]
            s[0] -= seized
            s[1] -= repaid
            count += 1
            sold += seized * price
        if not count:
            break
        out.append((number, price, count, sold))
        price = price * max(0.0, 1 - sold / (depth * 100))
    return out, price


@PROPS
@given(loan_rows, shocks, depths)
def test_equals_a_loop_reference(rows: list[tuple], shock: float, depth: float) -> None:  # type: ignore[type-arg]
    result = run_cascade(arrays(rows), POP_PRICES, "ETH", shock, depth)
    expected, final = reference(rows, POP_PRICES, "ETH", shock, depth)
    assert [(r.round, r.liquidated) for r in result.rounds] == [(e[0], e[2]) for e in expected]
    for r, e in zip(result.rounds, expected, strict=True):
        assert r.price == pytest.approx(e[1], rel=1e-9, abs=1e-9)
        assert r.sold_usd == pytest.approx(e[3], rel=1e-9, abs=1e-6)
    assert result.final_price == pytest.approx(final, rel=1e-9, abs=1e-9)


def hf_at(r: tuple, shocked: float) -> float:  # type: ignore[type-arg]
    p_c = shocked if r[1] == "ETH" else POP_PRICES[r[1]]
    p_d = shocked if r[3] == "ETH" else POP_PRICES.get(r[3], 1.0)
    return math.inf if r[4] * p_d == 0 else r[2] * p_c * r[5] / (r[4] * p_d)


@PROPS
@given(loan_rows, shocks, depths, st.lists(st.floats(1.0, 10.0), min_size=25, max_size=25))
def test_no_liquidation_when_every_hf_stays_at_or_above_one(
    rows: list[tuple], shock: float, depth: float, hfs: list[float]  # type: ignore[type-arg]
) -> None:
    shocked = POP_PRICES["ETH"] * (1 + shock)
    # set each debt so that the HF after the shock is the drawn one (>= 1)
    for i, r in enumerate(rows):
        p_c = shocked if r[1] == "ETH" else POP_PRICES[r[1]]
        p_d = shocked if r[3] == "ETH" else POP_PRICES.get(r[3], 1.0)
        rows[i] = (*r[:4], r[2] * p_c * r[5] / (hfs[i] * p_d), *r[5:])
    assume(all(hf_at(r, shocked) >= 1.0 for r in rows))  # rounding at HF = 1 exactly
    result = run_cascade(arrays(rows), POP_PRICES, "ETH", shock, depth)
    assert result.rounds == ()
    assert result.final_price == shocked
    np.testing.assert_array_equal(result.coll_end, [r[2] for r in rows])
    np.testing.assert_array_equal(result.debt_end, [r[4] for r in rows])


@PROPS
@given(loan_rows, shocks, depths)
def test_seized_collateral_is_the_collateral_sold(
    rows: list[tuple], shock: float, depth: float  # type: ignore[type-arg]
) -> None:
    la = arrays(rows)
    result = run_cascade(la, POP_PRICES, "ETH", shock, depth)
    assume(all(r.price > 0 for r in result.rounds))
    sold_coins = sum(r.sold_usd / r.price for r in result.rounds)
    assert float(result.seized.sum()) == pytest.approx(sold_coins, rel=1e-9, abs=1e-9)
    assert np.all(result.seized >= 0) and np.all(result.seized <= la.coll)
    assert np.all(result.debt_end >= 0) and np.all(result.debt_end <= la.debt)
    untouched = (la.coll_asset != "ETH") | (la.coll == 0)  # other collateral, bad debt
    np.testing.assert_array_equal(result.coll_end[untouched], la.coll[untouched])
    np.testing.assert_array_equal(result.debt_end[untouched], la.debt[untouched])


@PROPS
@given(loan_rows, shocks, depths)
def test_final_price_never_exceeds_the_shocked_price(
    rows: list[tuple], shock: float, depth: float  # type: ignore[type-arg]
) -> None:
    result = run_cascade(arrays(rows), POP_PRICES, "ETH", shock, depth)
    shocked = POP_PRICES["ETH"] * (1 + shock)
    prices = [r.price for r in result.rounds] + [result.final_price]
    assert 0.0 <= result.final_price <= shocked
    assert all(b <= a for a, b in itertools.pairwise(prices))
    assert not result.rounds or result.rounds[0].price == shocked


def test_price_zero_seizes_everything_without_warnings() -> None:
    # a sale larger than D·100 takes the price to 0; later rounds seize all collateral
    result = run_cascade(loans(), PRICES, "ETH", -0.5, 1.0)
    assert result.final_price == 0.0
    assert result.coll_end[:3].tolist() == [0.0, 0.0, 0.0]


def test_unknown_debt_asset_is_named() -> None:
    la = replace(loans(), debt_asset=np.array(["USD", "USD", "USD", "USD", "DAI"]))
    with pytest.raises(UnknownAssetError, match="DAI") as info:
        run_cascade(la, PRICES, "ETH", SHOCK, DEPTH)
    assert info.value.asset == "DAI"


@pytest.mark.parametrize(("shock", "depth", "text"), [(-1.0, 1.0, "shock"), (0.0, 0.0, "depth")])
def test_bad_shock_or_depth(shock: float, depth: float, text: str) -> None:
    with pytest.raises(ValueError, match=text):
        run_cascade(loans(), PRICES, "ETH", shock, depth)


def test_book_pnl_adds_other_positions_at_the_final_move() -> None:
    result = run_cascade(loans(), PRICES, "ETH", SHOCK, DEPTH)
    pf = result.final_price
    # book a also holds 2 ETH of a linear perpetual at mark 2010 and 3 ETH of collateral;
    # its slice's own loan legs are ignored (the cascade values the loans)
    a = replace(make(index=2000.0, collateral=3.0,
                     linear=LinearLegs(q=f64(2.0), mark=f64(2010.0), instrument_ids=("p",)),
                     loans=LoanLegs(position_ids=("A",), coll_amount=f64(10.0),
                                    coll_price=f64(2000.0), debt_amount=f64(14_000.0),
                                    debt_price=f64(1.0), liquidation_threshold=f64(0.8),
                                    coll_is_underlying=np.array([True]),
                                    debt_is_underlying=np.array([False]))),
                book="a", underlying="ETH")
    other = replace(make(index=60_000.0, collateral=5.0), book="z", underlying="WBTC")
    move = pf / 2000.0 - 1
    got = book_pnl(result, loans(), [a, other])
    assert list(got) == ["a", "b"]
    expected_a = result.book_loan_pnl["a"] + 2.0 * (2010.0 * (1 + move) - 2010.0) \
        + 3.0 * (2000.0 * (1 + move) - 2000.0)
    assert got["a"] == pytest.approx(expected_a, rel=1e-12)
    assert got["b"] == result.book_loan_pnl["b"]
