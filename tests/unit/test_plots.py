"""The PNGs a risk manager reads: units on the axes, values in the cells, one colour scale
for the whole figure in a colour-blind-safe diverging palette, the as-of time in the title,
named scenarios drawn (the worst boxed), an empty cascade that says so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.image import AxesImage
from matplotlib.text import Text

from greekstream.commands.stress import stress_reports
from greekstream.core.cascade import CascadeResult
from greekstream.core.engine import Engine
from greekstream.core.timeutil import format_ts, parse_ts
from greekstream.core.var import BookVar
from greekstream.reports.plots import (
    GAIN,
    LOSS,
    PNL_CMAP,
    TOTAL,
    cascade_figure,
    cascade_rounds,
    explain_waterfalls,
    risk_figure,
    risk_heatmaps,
    var_distributions,
    var_figure,
)
from greekstream.runtime.scenario_files import load
from tests.unit import builders as b

CALL = "BTC-27MAR26-60000-C"


def _engine() -> tuple[Engine, int]:
    engine = Engine()
    records = [
        b.option(CALL, 60000), b.perp(), b.index("x0", 1, 61000),
        b.quote_opt("q0", 2, CALL, 61200, 0.62), b.quote_mark("m0", 2, "BTC-PERPETUAL", 61010),
        b.trade("t1", 3, CALL, "sell", 40), b.trade("t2", 4, CALL, "buy", 5, book="desk-b"),
        b.trade("t3", 5, "BTC-PERPETUAL", "buy", 90_000, book="desk-b"),
    ]
    for i, raw in enumerate(records):
        engine.handle(raw, f"plot:{i}")
    return engine, parse_ts(b.ts(5))


def _images(fig) -> list[AxesImage]:  # type: ignore[no-untyped-def]
    return [im for ax in fig.axes for im in ax.images]


def test_heatmaps_share_one_scale_with_units_values_and_as_of() -> None:
    engine, at = _engine()
    reports = stress_reports(engine, at)
    fig = risk_figure(reports, "test", as_of_us=at)
    images = _images(fig)
    assert len(images) == 2  # one panel per (book, underlying)
    limits = {(im.norm.vmin, im.norm.vmax) for im in images}
    assert len(limits) == 1, "one colour scale for every panel"
    (vmin, vmax), = limits
    worst = max(float(np.max(np.abs(r.matrix.pnl))) for r in reports)
    assert vmin == -vmax and vmax == pytest.approx(worst)
    assert all(im.get_cmap().name == PNL_CMAP == "RdBu" for im in images)
    assert format_ts(at) in fig._suptitle.get_text()  # type: ignore[union-attr]
    for ax in (im.axes for im in images):
        assert "%" in ax.get_xlabel() and "vol points" in ax.get_ylabel()
        n_cells = int(np.prod(ax.images[0].get_array().shape))
        assert len([t for t in ax.texts if t.get_text()]) >= n_cells  # a value per cell
        assert any(p.get_linewidth() == 2 for p in ax.patches)  # the worst cell boxed
    colorbars = [ax for ax in fig.axes if "USD" in ax.get_ylabel()]
    assert len(colorbars) == 1, "one colour bar for the figure"


def test_named_scenarios_are_drawn_and_the_worst_one_is_marked(tmp_path: Path) -> None:
    engine, at = _engine()
    named = tmp_path / "named.yaml"
    named.write_text(
        "scenarios:\n"
        "  - {name: crash, shocks: {BTC: {price_shock: -0.6, vol_shock: 0.5}}}\n"
        "  - {name: squeeze, shocks: {BTC: {price_shock: 0.6}}}\n")
    reports = stress_reports(engine, at, load(named))
    fig = risk_figure(reports, "named", as_of_us=at)
    bar_axes = [ax for ax in fig.axes if ax.get_xlabel().startswith("named scenario P&L")]
    assert len(bar_axes) == len(reports)
    for ax, r in zip(bar_axes, reports, strict=True):
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels == ["crash", "squeeze"]
        if r.matrix.worst_scenario.name:
            assert any("worst" in t.get_text() for t in ax.texts)


def test_heatmap_png_is_written(tmp_path: Path) -> None:
    engine, at = _engine()
    out = risk_heatmaps(stress_reports(engine, at, load("pm")), tmp_path / "r.png",
                        as_of_us=at)
    assert out.stat().st_size > 20_000


def test_an_empty_cascade_says_so_instead_of_drawing_axes(tmp_path: Path) -> None:
    none = np.zeros(0)
    empty = CascadeResult(asset="WBTC", shock=-0.1, depth=1e6, initial_price=90_000.0,
                          final_price=81_000.0, rounds=(), coll_end=none, debt_end=none,
                          seized=none, loan_pnl=none)
    fig = cascade_figure(empty)
    (ax,) = fig.axes
    assert not ax.axison and not ax.lines and not ax.patches
    assert any("No loan is liquidated" in t.get_text() for t in ax.texts)
    assert cascade_rounds(empty, tmp_path / "c.png").stat().st_size > 0


@pytest.mark.parametrize("scenarios", [None, "pm"])
def test_the_figure_title_clears_every_panel_title(scenarios: str | None) -> None:
    """The two-line figure title sits above the first row's two-line panel titles: no
    text of it is drawn over them (it was, on the middle panel of a wide figure)."""
    engine, at = _engine()
    reports = (stress_reports(engine, at, load(scenarios)) if scenarios
               else stress_reports(engine, at))
    # five books of three underlyings (the demo's shape: a tall, wide figure), so a panel
    # is under the title, whose place is a fraction of the figure's height
    r = reports[0]
    wide = [replace(r, matrix=replace(r.matrix, book=f"book-{i}", underlying=u))
            for i in range(5) for u in ("BTC", "ETH", "SOL")]
    fig = risk_figure(wide, "test", as_of_us=at)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    top = fig._suptitle.get_window_extent(renderer)  # type: ignore[union-attr]
    titles = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    assert titles
    assert not [t for t in titles if t.overlaps(top)], "the figure title overlaps a panel's"


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def _pixels_near(pixels: np.ndarray, hex_colour: str, tol: int = 6) -> int:
    return int(np.all(np.abs(pixels - _rgb(hex_colour)) <= tol, axis=-1).sum())


def test_the_worst_day_label_is_not_crossed_by_the_es_and_var_lines() -> None:
    """The worst day lies left of ES and VaR, and its label (up and to the right of it)
    lay across the ES line: 'worst 2025-10-28' was struck through in red on every book's
    VaR picture. The label sits on a white box drawn over the lines."""
    rng = np.random.default_rng(7)
    pnl = rng.normal(0.0, 5e5, 250)
    pnl[10], pnl[20] = -3.43e6, 3.3e6  # desk-a's day on the demo's store, roughly
    dates = tuple(f"2025-{6 + i // 31:02d}-{1 + i % 28:02d}" for i in range(250))
    report = BookVar("desk-a", parse_ts("2026-03-02T01:00:00Z"), 0.99, dates, pnl, 2.52e6,
                     2.93e6, 3, 10)
    fig = var_figure([report])
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)  # type: ignore[attr-defined]
    (label,) = [t for t in fig.axes[0].texts if t.get_text().startswith("worst 2025-")]
    box = Text.get_window_extent(label)  # the text alone, not its arrow or box
    height = pixels.shape[0]  # display y runs up, rows run down
    inside = pixels[int(height - box.y1):int(height - box.y0), int(box.x0):int(box.x1)]
    es_x = fig.axes[0].transData.transform((-2.93e6, 0))[0]
    assert box.x0 < es_x < box.x1, "the case under test: the label spans the ES line"
    plt.close(fig)
    assert _pixels_near(inside, "#d62728", tol=20) == 0, "the ES line crosses the label"


def test_the_explain_waterfall_colours_gains_and_losses_as_the_page_does(
        tmp_path: Path) -> None:
    """The waterfall drew gains green (the page's heatmap and legend: blue gain, red loss)
    and the actual P&L always blue, so a loss of 273k stood as a blue bar under a page
    that says blue is a gain. Gains are RdBu's blue, losses its red, the total dark grey."""
    from matplotlib import image

    row = {"book": "treasury", "underlying": "BTC", "actual": -150_000.0,
           "delta": -200_000.0, "gamma": 0.0, "vega": 50_000.0, "theta": 0.0, "vanna": 0.0,
           "volga": 0.0, "funding": 0.0, "new_trades": 0.0, "residual": 0.0}
    at = parse_ts("2026-03-02T23:00:00Z")
    path = explain_waterfalls([row], tmp_path / "explain.png", at, at + 3_600_000_000)
    pixels = (image.imread(path)[..., :3] * 255).round().astype(int)
    assert _pixels_near(pixels, "#2e7d32") == 0 and _pixels_near(pixels, "#1565c0") == 0
    gain, loss, total = (_pixels_near(pixels, c) for c in (GAIN, LOSS, TOTAL))
    assert gain > 500 and loss > 500 and total > 500, (gain, loss, total)
    assert loss > total > gain  # -200k delta, -150k actual, +50k vega


def test_the_var_title_names_the_book_when_it_shows_one() -> None:
    """One book's picture said "P&L by book"; it names the book, and several say by book."""
    dates = tuple(f"2025-06-{1 + i:02d}" for i in range(20))
    at = parse_ts("2026-03-02T01:00:00Z")
    one = BookVar("desk-a", at, 0.99, dates, np.linspace(-1e5, 1e5, 20), 9e4, 1e5, 1, 0)
    two = BookVar("desk-b", at, 0.99, dates, np.linspace(-2e5, 2e5, 20), 9e4, 1e5, 1, 0)
    for reports, says in (([one], "Historical one-day P&L of desk-a, 20 days"),
                          ([one, two], "Historical one-day P&L by book, 20 days")):
        fig = var_figure(reports)
        assert fig._suptitle.get_text().startswith(says)  # type: ignore[union-attr]
        plt.close(fig)



def _savers() -> list[tuple[str, Callable[[Path], Path]]]:
    engine, at = _engine()
    reports = stress_reports(engine, at)
    none = np.zeros(0)
    empty = CascadeResult(asset="WBTC", shock=-0.1, depth=1e6, initial_price=90_000.0,
                          final_price=81_000.0, rounds=(), coll_end=none, debt_end=none,
                          seized=none, loan_pnl=none)
    dates = tuple(f"2025-06-{1 + i:02d}" for i in range(20))
    var = BookVar("desk-a", at, 0.99, dates, np.linspace(-1e5, 1e5, 20), 9e4, 1e5, 1, 0)
    return [
        ("risk_heatmaps", lambda p: risk_heatmaps(reports, p, as_of_us=at)),
        ("cascade_rounds", lambda p: cascade_rounds(empty, p)),
        ("var_distributions", lambda p: var_distributions([var], p)),
        ("explain_waterfalls", lambda p: explain_waterfalls([], p, at, at + 1)),
    ]


@pytest.mark.parametrize("name", ["out.pdf", "out.xyz", "out"])
def test_every_picture_is_a_png_at_the_exact_path_whatever_its_suffix(
        tmp_path: Path, name: str) -> None:
    """savefig chose the format by the suffix: .pdf wrote a PDF, .xyz or .txt raised
    ValueError (a traceback), a name without one got ".png" added (the command then
    printed a path that did not exist)."""
    for what, save in _savers():
        folder = tmp_path / what
        folder.mkdir()
        assert save(folder / name) == folder / name
        assert [p.name for p in folder.iterdir()] == [name], what
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", what


def test_a_picture_that_cannot_be_written_is_an_oserror_leaving_no_figure_open(
        tmp_path: Path) -> None:
    for what, save in _savers():
        before = plt.get_fignums()
        with pytest.raises(OSError):
            save(tmp_path / "missing" / f"{what}.png")
        assert plt.get_fignums() == before, what
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("pnl", [
    [1.0, 1.0000000000000002] * 10,  # numpy: "Too many bins for data range"
    [-2.5e6] * 20,  # every day the same loss
    [1e299, 1e299 * (1 + 2e-16)] * 10,
])
def test_a_var_picture_of_pnls_that_all_agree_is_drawn(pnl: list[float]) -> None:
    """A book whose every day has (nearly) the same P&L made var_figure raise (numpy could
    not cut the range into finite bins): GET /v1/books/{b}/var?format=png answered 500.
    The bars cover a readable width around the value, and every day is counted."""
    values = np.asarray(pnl)
    dates = tuple(f"2025-06-{1 + i:02d}" for i in range(len(values)))
    report = BookVar("desk-a", parse_ts("2026-03-02T01:00:00Z"), 0.99, dates, values,
                     float(-values.min()), float(-values.min()), 1, 0)
    fig = var_figure([report])
    fig.canvas.draw()
    heights = [p.get_height() for p in fig.axes[0].patches]
    plt.close(fig)
    assert sum(heights) == len(values)
