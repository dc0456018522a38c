"""The small hand-built loan population of the cascade tests (ETH at 2,000, WBTC at 60,000)."""

from __future__ import annotations

import numpy as np

from greekstream.core.cascade import LoanArrays

PRICES = {"ETH": 2000.0, "WBTC": 60_000.0}
SHOCK, DEPTH = -0.2, 500.0  # 500 USD per 1%: selling 50,000 USD would take the price to 0

# (book, coll_asset, coll, debt_asset, debt, LT, bonus, cf)
ROWS = [
    ("a", "ETH", 10.0, "USD", 14_000.0, 0.8, 0.05, 0.5),   # A: liquidated in rounds 1-5
    ("b", "ETH", 5.0, "USD", 5_000.0, 0.8, 0.10, 1.0),     # B: safe until round 3
    ("b", "ETH", 1.0, "USD", 2_000.0, 0.8, 0.10, 1.0),     # C: round 1, all collateral
    ("a", "ETH", 0.0, "USD", 500.0, 0.8, 0.05, 0.5),       # D: bad debt, left alone
    ("a", "WBTC", 1.0, "ETH", 10.0, 0.75, 0.05, 0.5),      # E: ETH debt, WBTC collateral
]


def loans() -> LoanArrays:
    cols = list(zip(*ROWS, strict=True))
    return LoanArrays(
        book=np.array(cols[0], dtype=np.str_),
        coll_asset=np.array(cols[1], dtype=np.str_), coll=np.array(cols[2], dtype=np.float64),
        debt_asset=np.array(cols[3], dtype=np.str_), debt=np.array(cols[4], dtype=np.float64),
        lt=np.array(cols[5], dtype=np.float64), bonus=np.array(cols[6], dtype=np.float64),
        cf=np.array(cols[7], dtype=np.float64),
        position_id=tuple("ABCDE"),
    )
