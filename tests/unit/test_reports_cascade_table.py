"""`greekstream cascade --format table`: the P&L column stays one column whatever the
books' names (a name past 24 characters pushed its P&L out of it)."""

from __future__ import annotations

import numpy as np

from greekstream.commands.cascade import CascadeReport, table_text
from greekstream.core.cascade import CascadeResult, CascadeRound

NONE = np.zeros(0)


def test_pnls_stay_in_one_column_with_long_book_names() -> None:
    result = CascadeResult(asset="ETH", shock=-0.2, depth=2e6, initial_price=2000.0,
                           final_price=1590.0, rounds=(CascadeRound(1, 1600.0, 1, 1e5),),
                           coll_end=NONE, debt_end=NONE, seized=NONE, loan_pnl=NONE)
    books = {"a": -1.5, "treasury-ethereum-mainnet-lending": -1_234_567.25, "mm-1": 7.0}
    lines = table_text(CascadeReport(result, books, 0, 3)).splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("book"))
    block = lines[start:start + 4]
    assert len({len(ln) for ln in block}) == 1, "\n".join(block)
    assert [ln.split()[-1] for ln in block[1:]] == ["-1.50", "-1,234,567.25", "7.00"]
