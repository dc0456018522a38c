"""Columnar totals (core/books.py): a key's row of the shared table holds the same bits as
six float attributes updated one by one, whether it is updated alone (a trade) or with the
other holders of an instrument in one vectorised step (a quote)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.books import Totals, TotalsTable

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
greeks = st.tuples(finite, finite, finite, finite, finite, finite)
# a step: (which keys move, their quantities, the Greek changes, alone or in one step,
# whether a key is read afterwards: a quote's update is held until the table is read)
step = st.tuples(st.lists(st.integers(0, 5), min_size=1, max_size=6, unique=True),
                 st.lists(finite, min_size=6, max_size=6), greeks, st.booleans(),
                 st.one_of(st.none(), st.integers(0, 5)))


@settings(max_examples=200, deadline=None)
@given(st.lists(step, max_size=30))
def test_rows_hold_the_bits_of_attribute_by_attribute_sums(steps: list) -> None:
    table = TotalsTable(2)  # small: the table grows under the keys' rows
    rows = [Totals(table) for _ in range(6)]
    plain = [[0.0] * 6 for _ in range(6)]
    for keys, qtys, d, vectorised, read in steps:
        if vectorised:
            q = np.array([qtys[k] for k in keys]).reshape(-1, 1)  # as a quote does
            table.add_at(TotalsTable.cells([rows[k].row for k in keys]), q, d)
        else:
            for k in keys:
                rows[k].add(qtys[k], *d)
        for k in keys:
            acc = plain[k]
            for j in range(6):
                acc[j] += qtys[k] * d[j]
        if read is not None:
            assert [v.hex() for v in rows[read].values()] == [v.hex() for v in plain[read]]
    for k in range(6):
        assert [v.hex() for v in rows[k].values()] == [v.hex() for v in plain[k]]


def test_a_row_given_back_and_taken_again_starts_at_zero() -> None:
    table = TotalsTable(1)
    first = Totals(table)
    first.set((1.0, 2.0, 3.0, 4.0, 5.0, 6.0))
    second = Totals(table)  # grows the table: the first row keeps its values
    assert first.values() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    table.give_back(first.row)
    third = Totals(table)
    assert third.row == first.row
    assert third.values() == [0.0] * 6
    assert second.values() == [0.0] * 6


def test_totals_without_a_table_keep_their_own_row() -> None:
    a, b = Totals(), Totals()
    a.add(2.0, 1.0, 1.0, 1.0, 1.0)
    assert a.values() == [2.0, 2.0, 2.0, 2.0, 0.0, 0.0]
    assert b.values() == [0.0] * 6
