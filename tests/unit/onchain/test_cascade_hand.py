"""The cascade on the hand-built population (population.py), round by round, by hand.

ETH 2,000 shocked by −20% to 1,600; depth 500 USD per 1%, so a round that sells S USD
moves the price by the factor 1 − S/50,000. Debt is USD (price 1) unless said.
Seized collateral is repaid·(1+bonus)/P when not capped, so a round's USD sold is
Σ repaid·(1+bonus) over its uncapped loans.
"""

from __future__ import annotations

import numpy as np
import pytest

from greekstream.core.cascade import LoanArrays, cascade_json, run_cascade

from .population import DEPTH, PRICES, SHOCK, loans

pytestmark = pytest.mark.timeout(30)


def hand() -> dict[str, object]:
    # round 1 at P1 = 2000·0.8 = 1600
    p1 = 2000.0 * (1 - 0.2)
    # A: HF = 10·1600·0.8/14000 = 0.914 < 1: repaid 7000, seized 7000·1.05/1600 = 4.59375
    # B: HF = 5·1600·0.8/5000 = 1.28: safe
    # C: HF = 1·1600·0.8/2000 = 0.64: repaid 2000, seized min(1, 2000·1.1/1600 = 1.375) = 1
    a_coll, a_debt = 10.0 - 7000 * 1.05 / p1, 14_000.0 - 7000
    sold1 = (7000 * 1.05 / p1 + 1.0) * p1  # 7350 + 1600 = 8950
    p2 = p1 * (1 - sold1 / 50_000)  # 1600·0.821 = 1313.6
    # round 2: A: HF = 5.40625·1313.6·0.8/7000 = 0.8116: repaid 3500, seized 3675/1313.6
    # B: HF = 5·1313.6·0.8/5000 = 1.0509: safe
    a_coll, a_debt = a_coll - 3500 * 1.05 / p2, a_debt - 3500
    sold2 = 3500 * 1.05  # 3675
    p3 = p2 * (1 - sold2 / 50_000)  # 1313.6·0.9265 = 1217.0504
    # round 3: A: HF = 2.6086·1217.05·0.8/3500 = 0.7257: repaid 1750, seized 1837.5/1217.05
    # B: HF = 5·1217.0504·0.8/5000 = 0.9736: repaid 5000, seized min(5, 5500/1217.05 = 4.519)
    a_coll, a_debt = a_coll - 1750 * 1.05 / p3, a_debt - 1750
    b_coll = 5.0 - 5000 * 1.1 / p3  # 0.48087
    sold3 = 1750 * 1.05 + 5000 * 1.1  # 1837.5 + 5500 = 7337.5
    p4 = p3 * (1 - sold3 / 50_000)  # 1217.0504·0.85325 = 1038.4482
    # round 4: A: HF = 1.0988·1038.45·0.8/1750 = 0.5216: repaid 875, seized 918.75/1038.45
    # (B has no debt left: HF = inf)
    a_coll, a_debt = a_coll - 875 * 1.05 / p4, a_debt - 875
    sold4 = 875 * 1.05  # 918.75
    p5 = p4 * (1 - sold4 / 50_000)  # 1038.4482·0.981625 = 1019.3669
    # round 5: A: HF = 0.21407·1019.37·0.8/875 = 0.1995: repaid 437.5,
    # seized min(0.21407, 437.5·1.05/1019.37 = 0.4506) = 0.21407: all its collateral
    sold5 = a_coll * p5  # 0.21407·1019.37 = 218.22
    a_coll, a_debt = 0.0, a_debt - 437.5
    p6 = p5 * (1 - sold5 / 50_000)
    # round 6: A has no collateral (bad debt), B no debt, C neither, D none: nothing, stop.
    return {
        "rounds": [(1, p1, 2, sold1), (2, p2, 1, sold2), (3, p3, 2, sold3), (4, p4, 1, sold4),
                   (5, p5, 1, sold5)],
        "final": p6, "a": (a_coll, a_debt), "b": (b_coll, 0.0),
    }


def test_rounds_match_the_hand_calculation() -> None:
    expected = hand()
    result = run_cascade(loans(), PRICES, "ETH", SHOCK, DEPTH)
    got = [(r.round, r.price, r.liquidated, r.sold_usd) for r in result.rounds]
    assert [g[0] for g in got] == [e[0] for e in expected["rounds"]]  # type: ignore[index]
    assert [g[2] for g in got] == [e[2] for e in expected["rounds"]]  # type: ignore[index]
    for g, e in zip(got, expected["rounds"], strict=True):  # type: ignore[call-overload]
        assert g[1] == pytest.approx(e[1], rel=1e-12)
        assert g[3] == pytest.approx(e[3], rel=1e-12)
    assert result.final_price == pytest.approx(expected["final"], rel=1e-12)
    assert result.initial_price == 2000.0


def test_loans_end_as_by_hand() -> None:
    expected = hand()
    result = run_cascade(loans(), PRICES, "ETH", SHOCK, DEPTH)
    a_coll, a_debt = expected["a"]  # type: ignore[misc]
    b_coll, b_debt = expected["b"]  # type: ignore[misc]
    np.testing.assert_allclose(result.coll_end, [a_coll, b_coll, 0.0, 0.0, 1.0],
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.debt_end, [a_debt, b_debt, 0.0, 500.0, 10.0], rtol=1e-12)
    assert a_debt == pytest.approx(437.5)  # A ends as bad debt: no collateral, debt left


def test_book_loan_pnl_by_hand() -> None:
    expected = hand()
    pf = expected["final"]
    result = run_cascade(loans(), PRICES, "ETH", SHOCK, DEPTH)
    a_coll, a_debt = expected["a"]  # type: ignore[misc]
    b_coll, _ = expected["b"]  # type: ignore[misc]
    # (coll_end·P_final − debt_end·P_d,end) − (coll_start·P0 − debt_start·P_d,start)
    pnl_a = (a_coll * pf - a_debt) - (10 * 2000 - 14_000)  # A
    pnl_a += 0.0  # D: no collateral, USD debt: value −500 before and after
    pnl_a += (60_000 - 10 * pf) - (60_000 - 10 * 2000)  # E: WBTC price kept, ETH debt moves
    pnl_b = (b_coll * pf - 0) - (5 * 2000 - 5000) + (0 - 0) - (1 * 2000 - 2000)  # B and C
    assert result.book_loan_pnl["a"] == pytest.approx(pnl_a, rel=1e-12)  # type: ignore[operator]
    assert result.book_loan_pnl["b"] == pytest.approx(pnl_b, rel=1e-12)  # type: ignore[operator]


def test_json_shape_is_specs() -> None:
    result = run_cascade(loans(), PRICES, "ETH", SHOCK, DEPTH)
    doc = cascade_json(result, result.book_loan_pnl)
    assert list(doc) == ["asset", "shock", "depth", "initial_price", "final_price", "rounds",
                         "books"]
    assert list(doc["rounds"][0]) == ["round", "price", "liquidated", "sold_usd"]  # type: ignore[index]
    assert doc["books"] == [{"book": "a", "pnl": result.book_loan_pnl["a"]},
                            {"book": "b", "pnl": result.book_loan_pnl["b"]}]


def test_fifty_rounds_at_most() -> None:
    # HF 0.5 with a close factor of 1%: each round repays 1% of the debt and leaves the HF
    # lower ((h − 0.01·LT)/0.99 < h), so the loan is liquidated every round; stop at 50.
    one = LoanArrays(
        coll_asset=np.array(["ETH"]), coll=np.array([100.0]), debt_asset=np.array(["USD"]),
        debt=np.array([100.0 * 2000 * 0.8 / 0.5]), lt=np.array([0.8]), bonus=np.array([0.0]),
        cf=np.array([0.01]), book=np.array(["a"]),
    )
    result = run_cascade(one, PRICES, "ETH", 0.0, 1e12)
    assert [r.round for r in result.rounds] == list(range(1, 51))
    assert all(r.liquidated == 1 for r in result.rounds)
    assert result.debt_end[0] == pytest.approx(one.debt[0] * 0.99**50, rel=1e-12)
