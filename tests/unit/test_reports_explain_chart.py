"""The P&L explain waterfall keeps its words apart: the value written on the highest bar
ran into the panel's title (the axis stopped at that bar's edge), and the figure's
title was drawn over the first panel's title."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

import greekstream.reports.plots as plots
from greekstream.core.timeutil import parse_ts

VALUES = {"delta": 7928.0, "gamma": 12.7, "vega": 124.8, "theta": -52.2, "vanna": 9.4,
          "volga": -0.2, "funding": 551.4, "new_trades": -4148.4, "residual": 3.8,
          "actual": 4429.3}


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Each test's figures closed (pyplot keeps them: over 20 open is a warning)."""
    yield
    plt.close("all")


def _figure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, books: int) -> Figure:
    drawn: list[Figure] = []

    def keep(fig: Figure, path: str | Path) -> Path:
        drawn.append(fig)
        return Path(path)

    monkeypatch.setattr(plots, "save_png", keep)
    rows: list[dict[str, Any]] = [{"book": f"desk-{i}", "underlying": "BTC", **VALUES}
                                  for i in range(books)]
    at = parse_ts("2026-03-02T01:00:00Z")
    plots.explain_waterfalls(rows, tmp_path / "e.png", at, at + 3_600_000_000)
    (fig,) = drawn
    return fig


@pytest.mark.parametrize("books", [1, 5])
def test_values_and_titles_do_not_overlap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          books: int) -> None:
    fig = _figure(monkeypatch, tmp_path, books)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    top = fig._suptitle.get_window_extent(renderer)  # type: ignore[union-attr]
    for ax in fig.axes:
        title = ax.title.get_window_extent(renderer)
        assert not title.overlaps(top), "the figure title is drawn over a panel's title"
        box = ax.get_window_extent(renderer)
        for text in ax.texts:
            extent = text.get_window_extent(renderer)
            assert not extent.overlaps(title), f"{text.get_text()} runs into the title"
            assert box.y0 <= extent.y0 and extent.y1 <= box.y1, (
                f"{text.get_text()} is drawn outside its panel")
