"""Amounts written in the pictures (VaR and ES in a panel's title and legend, a heatmap
cell) keep three significant digits: whole k wrote a VaR of 1,499 USD as "VaR 1k" and
an ES of 2,499 as "2k", and a cell of 1,500 read the same as one of 2,499."""

from __future__ import annotations

import re
from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import pytest

from greekstream.core.timeutil import parse_ts
from greekstream.core.var import BookVar
from greekstream.reports.plots import var_figure

UNITS = {"k": 1e3, "M": 1e6, "B": 1e9, "": 1.0}


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Each test's figures closed (pyplot keeps them: over 20 open is a warning)."""
    yield
    plt.close("all")


def _amounts(text: str) -> list[float]:
    return [float(n.replace(",", "")) * UNITS[u]
            for n, u in re.findall(r"(-?[\d,]+(?:\.\d+)?)([kMB]?) USD", text)]


@pytest.mark.parametrize(("var", "es"), [(1_499.0, 2_499.0), (14_940.0, 1_049_000.0),
                                         (999_999.0, 1_250_000.0), (420.0, 880.0)])
def test_var_and_es_read_within_half_a_percent(var: float, es: float) -> None:
    pnl = np.linspace(-es * 1.2, es, 40)
    dates = tuple(f"d{i}" for i in range(40))
    r = BookVar("desk-a", parse_ts("2026-03-02T01:00:00Z"), 0.99, dates, pnl, var, es, 1, 0)
    fig = var_figure([r])
    ax = fig.axes[0]
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    title = ax.get_title()
    shown = _amounts(title.split(" at ")[0].replace(", ES", " USD, ES"))
    assert shown == pytest.approx([var, es], rel=5e-3), title
    for label, want in zip(labels, (var, es), strict=False):
        assert _amounts(label) == pytest.approx([want], rel=5e-3), label
