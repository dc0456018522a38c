"""The scenario heatmap shows a stablecoin's named scenarios: a (book, underlying) the
file gives only named scenarios (USDC and its depegs in the `library` preset) has no
grid, and was left out of the picture, its losses with it (the table had them)."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib.pyplot as plt
import pytest

from greekstream.commands.stress import stress_reports
from greekstream.core.engine import Engine
from greekstream.core.timeutil import parse_ts
from greekstream.reports.plots import risk_figure
from greekstream.runtime.scenario_files import load
from tests.unit import builders as b

CALL = "BTC-27MAR26-60000-C"


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def test_a_stablecoin_with_named_scenarios_only_has_its_panel() -> None:
    engine = Engine()
    for i, raw in enumerate([
        b.option(CALL, 60000), b.index("x0", 1, 61000), b.index("x1", 1, 0.9998, "USDC"),
        b.quote_opt("q0", 2, CALL, 61200, 0.62), b.trade("t1", 3, CALL, "sell", 40),
        b.rec("collateral", "c1", 4, book="desk-a", asset="USDC", amount=2_000_000.0),
    ]):
        engine.handle(raw, f"t:{i}")
    at = parse_ts(b.ts(4))
    reports = stress_reports(engine, at, load("library"))
    usdc = next(r for r in reports if r.matrix.underlying == "USDC")
    assert usdc.matrix.worst_loss > 0
    fig = risk_figure(reports, "t", as_of_us=at)
    assert any(ax.get_title().startswith("desk-a USDC: worst loss") for ax in fig.axes)
    bars = [[t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes
            if ax.get_xlabel().startswith("named scenario P&L")]
    assert any("march-2023-usdc-depeg" in labels and "stablecoin-depeg-5pct" in labels
               for labels in bars), bars
