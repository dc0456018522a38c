"""The VaR histogram draws the tail's days red, all of them: a bin was red only when it
lay wholly left of the VaR line, so the k-th worst day (on the line) and its bin were
blue, and the red days were fewer than the title's "tail k"."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from greekstream.core.timeutil import parse_ts
from greekstream.core.var import BookVar
from greekstream.reports.plots import var_figure


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Each test's figures closed (pyplot keeps them: over 20 open is a warning)."""
    yield
    plt.close("all")


@pytest.mark.parametrize(("n", "confidence", "tail"), [(100, 0.95, 5), (365, 0.99, 4),
                                                      (20, 0.99, 1)])
def test_the_red_days_are_the_tail(n: int, confidence: float, tail: int) -> None:
    rng = np.random.default_rng(7)
    pnl = rng.normal(0.0, 1e5, n)
    worst = np.sort(pnl)
    dates = tuple(f"d{i}" for i in range(n))
    r = BookVar("desk-a", parse_ts("2026-03-02T01:00:00Z"), confidence, dates, pnl,
                float(-worst[tail - 1]), float(-worst[:tail].mean()), tail,
                int(np.argmin(pnl)))
    fig = var_figure([r])
    red = to_rgba("tab:red", 0.75)
    patches = fig.axes[0].patches
    red_days = sum(p.get_height() for p in patches if p.get_facecolor() == red)
    assert red_days == tail
    assert sum(p.get_height() for p in patches) == n
