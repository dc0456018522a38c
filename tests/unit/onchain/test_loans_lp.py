"""Loans (HF, liquidation price, deltas) by hand; LP amounts, value, delta, gamma."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.events import Loan
from greekstream.core.onchain import (
    UnknownAssetError,
    asset_price,
    health_factor,
    lowest_health_factor,
    lp_amounts,
    lp_value,
)
from greekstream.core.onchain_state import lp_base_and_gamma, summarise

pytestmark = pytest.mark.timeout(60)

# ----------------------------------------------------------------------------- loans


def test_health_factor_by_hand() -> None:
    # 10 ETH at 2,000 against 12,000 USDC at 1, LT 0.825: 10·2000·0.825/12000 = 16500/12000
    assert health_factor(10.0, 2000.0, 0.825, 12_000.0, 1.0) == pytest.approx(1.375, rel=1e-15)
    # 1 WBTC at 60,000 against 20 ETH at 2,500, LT 0.75: 45000/50000
    assert health_factor(1.0, 60_000.0, 0.75, 20.0, 2500.0) == pytest.approx(0.9, rel=1e-15)


def test_zero_debt_is_a_closed_loan_not_a_division() -> None:
    # no RuntimeWarning (warnings are errors here): explicit inf / 0
    hf = health_factor([10.0, 0.0, 1.0], 2000.0, 0.8, [0.0, 0.0, 1e-320], 1.0)
    assert hf.tolist() == [math.inf, math.inf, math.inf]


def test_vectorized_equals_scalar() -> None:
    rng = np.random.default_rng(3)
    coll, debt = rng.uniform(0.1, 50, 200), rng.uniform(100, 1e5, 200)
    pc, lt = rng.uniform(1000, 3000, 200), rng.uniform(0.5, 0.95, 200)
    hf = health_factor(coll, pc, lt, debt, 1.0)
    for i in range(200):
        assert hf[i] == coll[i] * pc[i] * lt[i] / (debt[i] * 1.0)


def test_loan_delta_adds_collateral_and_subtracts_debt() -> None:
    eth_usdc = Loan(event_id="e", ts="2026-03-01T00:00:00Z", book="a", position_id="e",
                    protocol="aave-v3", collateral_asset="ETH", collateral_amount=10.0,
                    debt_asset="USDC", debt_amount=9000.0, liquidation_threshold=0.8,
                    liquidation_bonus=0.05, close_factor=0.5)
    assert summarise({"e": eth_usdc}).loan_delta == {"ETH": 10.0, "USDC": -9000.0}
    loan = Loan(event_id="l", ts="2026-03-01T00:00:00Z", book="a", position_id="p",
                protocol="aave-v3", collateral_asset="WBTC", collateral_amount=1.0,
                debt_asset="ETH", debt_amount=7.0, liquidation_threshold=0.75,
                liquidation_bonus=0.05, close_factor=0.5)
    same = loan.model_copy(update={"position_id": "q", "debt_asset": "WBTC", "debt_amount": 0.25})
    # the book's delta per asset, as the engine sums it; a same-asset loan nets coll − debt
    assert summarise({"p": loan}).loan_delta == {"WBTC": 1.0, "ETH": -7.0}
    assert summarise({"p": loan, "q": same}).loan_delta == {"WBTC": 1.75, "ETH": -7.0}


def test_lowest_health_factor_of_the_loans_touching_an_asset() -> None:
    def loan(pid: str, ca: str, coll: float, da: str, debt: float) -> Loan:
        return Loan(event_id=pid, ts="2026-03-01T00:00:00Z", book="a", position_id=pid,
                    protocol="aave-v3", collateral_asset=ca, collateral_amount=coll,
                    debt_asset=da, debt_amount=debt, liquidation_threshold=0.8,
                    liquidation_bonus=0.05, close_factor=0.5)

    loans = [loan("x", "ETH", 10.0, "USD", 10_000.0),  # 10·2000·0.8/10000 = 1.6
             loan("y", "WBTC", 1.0, "ETH", 20.0),  # 60000·0.8/(20·2000) = 1.2
             loan("z", "WBTC", 1.0, "USDC", 1000.0)]  # no ETH leg
    index = {"ETH": 2000.0, "WBTC": 60_000.0}
    assert lowest_health_factor(loans, "ETH", index) == pytest.approx(1.2, rel=1e-15)
    assert lowest_health_factor(loans, "SOL", index) is None
    assert lowest_health_factor([loan("c", "ETH", 1.0, "USD", 0.0)], "ETH", index) == math.inf
    with pytest.raises(UnknownAssetError, match="USDC"):
        lowest_health_factor(loans, "WBTC", index)


def test_prices_usd_is_one_and_a_missing_asset_is_named() -> None:
    assert asset_price("USD", {}) == 1.0
    assert asset_price("ETH", {"ETH": 2000.0}) == 2000.0
    with pytest.raises(UnknownAssetError, match="USDC has no index price") as info:
        asset_price("USDC", {"ETH": 2000.0})
    assert info.value.asset == "USDC"
    assert asset_price("USDC", {"ETH": 2000.0}, required=False) is None


# ----------------------------------------------------------------------------- LP

L, PA, PB = 1_000.0, 1600.0, 2500.0  # √Pa = 40, √Pb = 50


def test_lp_amounts_by_hand_in_range() -> None:
    # P = 2025 (√P = 45): x = 1000·(1/45 − 1/50) = 1000/450, y = 1000·(45 − 40) = 5000
    x, y = lp_amounts(L, PA, PB, 2025.0)
    assert x == pytest.approx(1000 / 450, rel=1e-15)
    assert y == pytest.approx(5000.0, rel=1e-15)
    assert lp_value(L, PA, PB, 2025.0) == pytest.approx(2025 * 1000 / 450 + 5000, rel=1e-15)
    # gamma = −L/(2·P^{3/2}) = −1000/(2·45³)
    assert lp_base_and_gamma(L, PA, PB, 2025.0) == (
        pytest.approx(1000 / 450, rel=1e-15), pytest.approx(-1000 / (2 * 45**3), rel=1e-15))


@pytest.mark.parametrize("price", [PA, 1000.0, 1.0])
def test_at_and_below_pa_all_base(price: float) -> None:
    x, y = lp_amounts(L, PA, PB, price)
    assert x == L * (1 / math.sqrt(PA) - 1 / math.sqrt(PB))  # 1000·(1/40 − 1/50) = 5
    assert x == pytest.approx(5.0, rel=1e-15)
    assert y == 0.0
    assert lp_base_and_gamma(L, PA, PB, price) == (pytest.approx(5.0, rel=1e-15), 0.0)
    assert lp_value(L, PA, PB, price) == pytest.approx(5.0 * price, rel=1e-15)


@pytest.mark.parametrize("price", [PB, 3000.0, 1e9])
def test_at_and_above_pb_all_stable(price: float) -> None:
    x, y = lp_amounts(L, PA, PB, price)
    assert x == 0.0
    assert y == L * (math.sqrt(PB) - math.sqrt(PA))  # 1000·(50 − 40) = 10,000
    assert lp_base_and_gamma(L, PA, PB, price) == (0.0, 0.0)
    assert lp_value(L, PA, PB, price) == 10_000.0


def test_value_is_continuous_across_the_edges() -> None:
    for edge in (PA, PB):
        at = float(lp_value(L, PA, PB, edge))
        for eps in (1e-3, 1e-6, 1e-9):
            for side in (edge * (1 - eps), edge * (1 + eps)):
                assert abs(float(lp_value(L, PA, PB, side)) - at) <= 10 * eps * at


lp_cases = st.tuples(
    st.floats(1.0, 1e6),  # L
    st.floats(100.0, 5000.0),  # Pa
    st.floats(1.05, 4.0),  # Pb/Pa
    st.floats(0.3, 5.0),  # P/Pa
)


@settings(max_examples=200, deadline=None)
@given(lp_cases)
def test_delta_and_gamma_are_derivatives_of_the_value(case: tuple[float, ...]) -> None:
    big_l, pa, ratio, where = case
    pb, p = pa * ratio, pa * where
    h = p * 1e-4
    if min(abs(p - pa), abs(p - pb)) <= 2 * h:
        return  # the kinks: no finite difference across an edge
    v = [float(lp_value(big_l, pa, pb, p + k * h)) for k in (-1, 0, 1)]
    fd_delta = (v[2] - v[0]) / (2 * h)
    fd_gamma = (v[2] - 2 * v[1] + v[0]) / h**2
    delta, gamma = lp_base_and_gamma(big_l, pa, pb, p)  # the engine's
    scale = big_l / math.sqrt(pa)  # the size of x
    assert fd_delta == pytest.approx(delta, rel=1e-6, abs=1e-9 * scale)
    assert fd_gamma == pytest.approx(gamma, rel=1e-3, abs=1e-6 * scale / p)
    if pa < p < pb:
        assert gamma < 0.0


def test_vectorized_and_matches_the_engines_scalar_twin() -> None:
    rng = np.random.default_rng(5)
    big_l = rng.uniform(1, 1e5, 500)
    pa = rng.uniform(500, 3000, 500)
    pb = pa * rng.uniform(1.01, 3, 500)
    p = pa * rng.uniform(0.5, 3.5, 500)
    x, _y = lp_amounts(big_l, pa, pb, p)  # the scenarios' base amounts (through lp_value)
    value = lp_value(big_l, pa, pb, p)
    for i in range(500):
        tx, _tg = lp_base_and_gamma(big_l[i], pa[i], pb[i], p[i])  # the engine's delta
        assert x[i] == pytest.approx(tx, rel=1e-14, abs=1e-12)
        assert value[i] == float(lp_value(big_l[i], pa[i], pb[i], p[i]))
