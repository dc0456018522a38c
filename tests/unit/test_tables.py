"""The tools' table cells (reports/tables.py)."""

from __future__ import annotations

import pytest

from greekstream.reports.tables import fmt_row


@pytest.mark.parametrize(("values", "cells"), [
    # the demo's breaches: a gamma and a health factor just past their limits
    ((0.002577, 0.0025), ["0.002577", "0.002500"]),
    ((1.2483, 1.25), ["1.248", "1.250"]),
    ((1.24999, 1.25), ["1.24999", "1.25000"]),
    # large values keep their thousands separators and no needless decimals
    ((5_123.4, 5_000.0), ["5,123", "5,000"]),
    ((5_000.3, 5_000), ["5,000.3", "5,000.0"]),
    ((-848_042.85, -848_042.85, 0.0), ["-848,043", "-848,043", "0"]),
    ((None, 1.0), ["-", "1.000"]),
])
def test_a_row_prints_values_that_differ_differently(values: tuple[float | None, ...],
                                                     cells: list[str]) -> None:
    assert fmt_row(values) == cells
