"""The tools' table cells (reports/tables.py)."""

from __future__ import annotations

import dataclasses

import pytest

from greekstream.core.books import ExposureValues
from greekstream.core.events import Breach
from greekstream.reports.tables import (
    EXPOSURE_FIELDS,
    EXPOSURE_HEADERS,
    PNL_FIELDS,
    exposure_rows,
    fmt_row,
    print_pnl_table,
    print_table,
)


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


def _rows(stale: bool) -> list[dict[str, object]]:
    fresh = ExposureValues("desk-a", "BTC", 1.5, 2.0, 1e-4, 10.0, -5.0, 90_000.0, 2,
                           pnl={k: 1.0 for k in PNL_FIELDS})
    old = dataclasses.replace(fresh, underlying="ETH", stale=stale)
    return exposure_rows([fresh, old], None)


@pytest.mark.parametrize("table", ["exposure", "pnl"])
def test_tables_mark_a_stale_row_and_say_what_it_means(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for stale in (True, False):
        rows = _rows(stale)
        if table == "exposure":
            print_table(EXPOSURE_HEADERS, [[r[k] for k in EXPOSURE_FIELDS] for r in rows])
        else:
            print_pnl_table(rows, title="P&L")
        lines = capsys.readouterr().out.splitlines()
        header = next(line for line in lines if line.startswith("book"))
        assert header.split()[-1] == "stale"
        by_underlying = {line.split()[1]: line for line in lines if line.startswith("desk-a")}
        assert not by_underlying["BTC"].endswith("yes")
        assert by_underlying["ETH"].endswith("yes") is stale
        notes = [line for line in lines if line.startswith("stale = yes:")]
        assert len(notes) == stale, lines


def test_the_demo_breach_table_tells_a_value_from_its_limit(
    capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's open breaches: a delta of thousands, a gamma and a health factor just
    past their limits, in one table (the day's gamma was 0.002577 against 0.0025)."""
    from types import SimpleNamespace

    from greekstream.commands.demo import _summary

    def breach(i: int, book: str, underlying: str, metric: str, value: float,
               limit: float) -> Breach:
        return Breach(event_id=f"b{i}", ts=1_000_000 * i, breach_id=f"id{i}", book=book,
                      underlying=underlying, metric=metric, value=value, limit=limit,
                      state="open", caused_by="x")

    outputs = [breach(1, "desk-a", "BTC", "delta", 5_123.4, 5_000.0),
               breach(2, "desk-b", "BTC", "gamma", 0.002577, 0.0025),
               breach(3, "treasury", "ETH", "health_factor", 1.2483, 1.25)]
    result = SimpleNamespace(outputs=outputs, applied=3, as_of_us=10_000_000,
                             engine=SimpleNamespace(duplicates=0), exposures=lambda: [])
    _summary(result)  # type: ignore[arg-type]
    rows = {tuple(line.split()[2:5]): line.split()[-2:]
            for line in capsys.readouterr().out.splitlines() if line.startswith("19")}
    assert rows == {("desk-a", "BTC", "delta"): ["5,123", "5,000"],
                    ("desk-b", "BTC", "gamma"): ["0.002577", "0.002500"],
                    ("treasury", "ETH", "health_factor"): ["1.248", "1.250"]}
