"""USD axes label each tick with its own value: the VaR histogram's ticks at 1,500 and
2,500 read "2k" beside the one at 2,000 (the text formatter rounds to whole k), and a
book whose P&Ls are under a dollar had every tick "0" or "-0"."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import pytest

from greekstream.core.timeutil import parse_ts
from greekstream.core.var import BookVar
from greekstream.reports.plots import var_figure

DATES = tuple(f"2025-01-{i % 28 + 1:02d}" for i in range(40))


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Each test's figures closed (pyplot keeps them: over 20 open is a warning)."""
    yield
    plt.close("all")


def _value(label: str) -> float:
    text = label.replace("\u2212", "-").replace(",", "")
    scale = {"k": 1e3, "M": 1e6, "B": 1e9}.get(text[-1:], 1.0)
    return float(text[:-1] if scale != 1.0 else text) * scale


@pytest.mark.parametrize(("lo", "hi"), [(-1800.0, 1900.0), (-0.4, 0.35), (-1.4e6, 2.6e6)])
def test_var_axis_ticks_read_their_own_values(lo: float, hi: float) -> None:
    pnl = np.linspace(lo, hi, 40)
    r = BookVar("desk-a", parse_ts("2026-03-02T01:00:00Z"), 0.99, DATES, pnl, -lo * 0.9,
                -lo, 1, 0)
    fig = var_figure([r])
    fig.canvas.draw()
    ax = fig.axes[0]
    locs = ax.get_xticks()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(set(labels)) == len(labels), labels
    for loc, label in zip(locs, labels, strict=True):
        assert _value(label) == pytest.approx(loc, abs=1e-9), (label, loc)
