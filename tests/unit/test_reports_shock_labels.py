"""Scenario shocks in the stress table and the heatmap are labelled with the digits they
have: the pm preset's vol shock of -0.125 was "vol -0.12" / "-12 pts", and price shocks
of -2.5 % and -2 % were two columns both headed "-2%"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from greekstream.commands.stress import stress_reports, table_text
from greekstream.core.timeutil import parse_ts
from greekstream.reports.plots import risk_figure
from greekstream.runtime.scenario_files import load
from tests.unit import builders as b

CALL = "BTC-27MAR26-60000-C"
GRID = "{price_shocks: [-0.025, -0.02, 0, 0.02, 0.025], vol_shocks: [-0.125, 0, 0.2]}\n"


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Each test's figures closed (pyplot keeps them: over 20 open is a warning)."""
    yield
    plt.close("all")


def _reports(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = b.short_call_book(CALL)
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    at = parse_ts(b.ts(3))
    return stress_reports(engine, at, load(grid)), at


def test_shock_text_shows_the_digits_a_shock_has() -> None:
    from greekstream.reports.tables import shock_text

    assert shock_text(-0.125, 2) == "-0.125"
    assert shock_text(0.2, 2) == "+0.20"
    assert shock_text(-0.025 * 100) == "-2.5"
    assert shock_text(-0.12 * 100) == "-12"
    assert shock_text(0.0) == "+0"


def test_the_table_heads_each_shock_with_its_own_label(tmp_path: Path) -> None:
    reports, at = _reports(tmp_path)
    lines = table_text(reports, at).splitlines()
    head = next(ln for ln in lines if ln.startswith("vol \\ price")).split()[3:]
    assert head == ["-2.5%", "-2%", "+0%", "+2%", "+2.5%"]
    rows = [ln.split()[1] for ln in lines if ln.startswith("vol ") and "price" not in ln]
    assert rows == ["-0.125", "+0.00", "+0.20"]


def test_the_heatmap_labels_each_shock_with_its_own_label(tmp_path: Path) -> None:
    reports, at = _reports(tmp_path)
    fig = risk_figure(reports, "t", as_of_us=at)
    ax = next(a for a in fig.axes if a.images)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-2.5%", "-2%", "+0%", "+2%",
                                                             "+2.5%"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["-12.5 pts", "+0 pts", "+20 pts"]
