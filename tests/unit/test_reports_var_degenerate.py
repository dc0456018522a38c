"""A VaR picture whose days all agree (one day, or twenty equal P&Ls) shows its bar: it
was a dollar (or a millionth of the value) wide, cut in ten, on an axis running to the
zero line, under a pixel wide: the picture looked empty."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import pytest

from greekstream.core.timeutil import parse_ts
from greekstream.core.var import BookVar
from greekstream.reports.plots import var_figure


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.mark.parametrize("pnl", [[-2.5e6] * 20, [-1234.0], [3.0e5, 3.0e5 + 0.1] * 5])
def test_days_that_agree_are_a_visible_bar(pnl: list[float]) -> None:
    values = np.asarray(pnl)
    dates = tuple(f"2025-06-{1 + i:02d}" for i in range(len(values)))
    loss = float(-values.min())
    fig = var_figure([BookVar("desk-a", parse_ts("2026-03-02T01:00:00Z"), 0.99, dates,
                              values, loss, loss, 1, int(np.argmin(values)))])
    fig.canvas.draw()
    bars = [p for p in fig.axes[0].patches if p.get_height()]
    assert sum(p.get_height() for p in bars) == len(values)
    assert min(p.get_window_extent().width for p in bars) >= 5, "a bar under 5 px wide"
