"""A scenario grid of many price shocks stays readable in the heatmap: 41 columns in a
panel 7 in wide wrote their values over one another and their tick labels too."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.transforms import Bbox

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


def _apart(boxes: list[Bbox]) -> bool:
    boxes = sorted(boxes, key=lambda x: x.x0)
    return all(a.x1 <= b.x0 + 0.5 for a, b in pairwise(boxes))


@pytest.mark.parametrize("columns", [41, 121])
def test_values_and_tick_labels_do_not_overlap(tmp_path: Path, columns: int) -> None:
    engine = Engine()
    for i, raw in enumerate([
        b.option(CALL, 60000), b.index("x0", 1, 61000),
        b.quote_opt("q0", 2, CALL, 61200, 0.62), b.trade("t1", 3, CALL, "sell", 40),
    ]):
        engine.handle(raw, f"t:{i}")
    shocks = [round(-0.2 + 0.4 * i / (columns - 1), 4) for i in range(columns)]
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"{{price_shocks: {shocks}, vol_shocks: [-0.1, 0, 0.1]}}\n")
    at = parse_ts(b.ts(3))
    fig = risk_figure(stress_reports(engine, at, load(grid)), "t", as_of_us=at)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (ax,) = [a for a in fig.axes if a.images]
    rows: dict[float, list[Bbox]] = {}
    for text in ax.texts:
        if text.get_text():
            rows.setdefault(text.get_position()[1], []).append(
                text.get_window_extent(renderer))
    assert all(_apart(row) for row in rows.values()), "cell values overlap"
    ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    assert len(ticks) >= min(columns, 40)
    assert _apart(ticks), "tick labels overlap"
