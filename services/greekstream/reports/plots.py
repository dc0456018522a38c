"""Matplotlib figures (Agg backend: no display needed). One function per figure."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import SupportsFloat

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator, ScalarFormatter

from greekstream.core.cascade import CascadeResult
from greekstream.core.scenarios import BookScenarioRisk
from greekstream.core.timeutil import format_ts
from greekstream.core.var import BookVar
from greekstream.reports.tables import liquidation_parts, price_text, shock_text
from greekstream.runtime.whole_file import write_whole

# Names come from desks' data (books, underlyings, named scenarios): drawn as they are,
# never as mathtext, which reads what lies between two "$" as TeX (a book named
# "a $\\x$" failed the figure; deep braces there were a RecursionError). No figure here
# asks for mathtext.
matplotlib.rcParams["text.parse_math"] = False

# colour-blind-safe diverging palette (ColorBrewer RdBu): losses red, gains blue
PNL_CMAP = "RdBu"
# its ends, for bars that are a gain or a loss (the page's heatmap uses the same two);
# a total, whatever its sign, and the residual are greys
GAIN, LOSS, TOTAL, RESIDUAL = "#2166ac", "#b2182b", "#374151", "#9e9e9e"


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG whatever the name's suffix (savefig picks the
    format by it: PDF for .pdf, a ValueError for .xyz, ".png" added to a name without
    one). The picture is made in memory first, so a figure that fails to draw leaves no
    file, and written whole or not at all (:mod:`greekstream.runtime.whole_file`); an
    OSError writing it (a missing directory, no permission, a full disk) is the caller's
    to report. The figure is closed either way."""
    out = Path(path)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110)
    finally:
        plt.close(fig)
    write_whole(out, buffer.getvalue())
    return out


def risk_heatmaps(reports: Sequence[BookScenarioRisk], path: str | Path, title: str = "",
                  as_of_us: int | None = None) -> Path:
    """Write :func:`risk_figure` as a PNG."""
    return save_png(risk_figure(reports, title, as_of_us), path)


def risk_figure(reports: Sequence[BookScenarioRisk], title: str = "",
                as_of_us: int | None = None) -> Figure:
    """Scenario P&L heatmaps: one row of panels per book, one panel per underlying.

    Columns are price shocks, rows are (vol shock, time shift), each cell shows its P&L;
    every panel shares one colour scale (stated in the title and the colour bar). The worst
    scenario is boxed and the liquidation moves are dashed vertical lines (when inside the
    grid). Named stress scenarios, when the file has them, are bars beside the grid, in the
    same colours.
    """
    # a (book, underlying) with only named scenarios (a stablecoin's depegs) has no grid:
    # its panel says so beside its named bars (it was left out, and its losses with it)
    books = sorted({r.matrix.book for r in reports})
    per_book = {b: [r for r in reports if r.matrix.book == b] for b in books}
    cols = max((len(v) for v in per_book.values()), default=1)
    named = any(n is not None for r in reports for n in _names(r))
    # a panel 7 in wide holds 15 price columns with their values; more columns widen it,
    # up to MAX_COLUMNS (41 columns in 7 in wrote their values over one another)
    columns = max((len(_grid_prices(r)) for r in reports), default=0)
    stretch = min(max(columns, 15), MAX_COLUMNS) / 15
    scale = max((float(np.max(np.abs(r.matrix.pnl))) for r in reports), default=0.0) or 1.0
    norm = Normalize(vmin=-scale, vmax=scale)
    widths = [3.4 * stretch, 1.3] * cols if named else [1.0] * cols
    width = ((7.0 * stretch + 3.0) if named else 7.0 * stretch) * cols + 1.2
    height = 3.4 * max(len(books), 1) + 1.7
    fig = plt.figure(figsize=(width, height))
    # the top 1.6 in: the figure's two-line title, then the first row's two-line titles
    grid = fig.add_gridspec(max(len(books), 1), len(widths), width_ratios=widths,
                            left=0.9 / width, right=1 - 1.3 / width, top=1 - 1.6 / height,
                            bottom=0.75 / height, wspace=0.45 if named else 0.22, hspace=0.85)
    axes = []
    for i, book in enumerate(books):
        for j in range(cols):
            step = 2 if named else 1
            ax = fig.add_subplot(grid[i, j * step])
            axes.append(ax)
            side = fig.add_subplot(grid[i, j * step + 1]) if named else None
            if j < len(per_book[book]):
                if None in _names(per_book[book][j]):
                    _panel(ax, per_book[book][j], norm)
                else:
                    _no_grid_panel(ax, per_book[book][j])
                if side is not None:
                    _named_panel(side, per_book[book][j], norm)
                    axes.append(side)
            else:
                ax.axis("off")
                if side is not None:
                    side.axis("off")
    if not reports:
        ax = fig.add_subplot(grid[0, 0])
        ax.axis("off")
        ax.text(0.5, 0.5, "nothing to revalue at the as-of time: no positions,\nor only "
                "stablecoins, which this scenario file does not shock",
                ha="center", va="center", transform=ax.transAxes)
    else:
        mappable = plt.cm.ScalarMappable(norm=norm, cmap=PNL_CMAP)
        cax = fig.add_axes((1 - 0.95 / width, 0.2, 0.18 / width, 0.6))
        fig.colorbar(mappable, cax=cax, label="scenario P&L (USD; red loss, blue gain)",
                     format=FuncFormatter(_usd_tick))
    when = f" as of {format_ts(as_of_us)}" if as_of_us is not None else ""
    fig.suptitle(f"{title or 'Scenario P&L by book and underlying'}{when}\n"
                 f"full revaluation, P&L in USD per cell; one colour scale for every panel "
                 f"(±{_usd(scale)} USD)", fontsize=11, y=1 - 0.15 / height, va="top")
    return fig


MAX_COLUMNS = 60  # price columns a heatmap panel writes values in (beyond: colours only)


def _grid_prices(r: BookScenarioRisk) -> list[float]:
    """The price shocks of a panel's grid (its named scenarios left out), in order."""
    m = r.matrix
    return sorted({float(m.grid.price_shock[i]) for i, name in enumerate(_names(r))
                   if name is None})


def _panel(ax: Axes, r: BookScenarioRisk, norm: Normalize) -> None:
    m = r.matrix
    on_grid = [i for i, name in enumerate(_names(r)) if name is None]
    prices = _grid_prices(r)
    rows = list(dict.fromkeys((float(m.grid.vol_shock[i]), float(m.grid.time_shift_h[i]))
                              for i in on_grid))
    cells = np.full((len(rows), len(prices)), np.nan)
    for i in on_grid:
        key = (float(m.grid.vol_shock[i]), float(m.grid.time_shift_h[i]))
        cells[rows.index(key), prices.index(float(m.grid.price_shock[i]))] = m.pnl[i]
    ax.imshow(cells, cmap=PNL_CMAP, norm=norm, aspect="auto")
    size = 6 if len(prices) <= 15 else 5
    scale = _scale(norm)
    for (y, x), value in np.ndenumerate(cells):
        if np.isfinite(value) and len(prices) <= MAX_COLUMNS:
            dark = abs(value) > 0.6 * scale
            ax.text(x, y, _usd(float(value)), ha="center", va="center", fontsize=size,
                    color="white" if dark else "black")
    every = math.ceil(len(prices) / MAX_COLUMNS)  # a label per column, or every n-th
    ax.set_xticks(range(0, len(prices), every),
                  [f"{shock_text(p * 100)}%" for p in prices[::every]], fontsize=7,
                  rotation=45)
    ax.set_yticks(range(len(rows)),
                  [f"{shock_text(v * 100)} pts" + (f", +{h:g} h" if h else "") for v, h in rows],
                  fontsize=7)
    ax.set_xlabel("price shock (forwards, marks and index, %)", fontsize=7)
    ax.set_ylabel("vol shock (vol points)" + (", time shift" if any(h for _, h in rows)
                                              else ""), fontsize=7)
    if m.worst_index in on_grid:
        sc = m.worst_scenario
        y = rows.index((sc.vol_shock, sc.time_shift_h))
        x = prices.index(sc.price_shock)
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, lw=2, ec="black"))
    _mark_liquidation(ax, r, prices)
    ax.set_title(f"{m.book} {m.underlying}: worst loss {m.worst_loss:,.0f} USD"
                 + _worst_named(r) + _liq_text(r), fontsize=8)


def _no_grid_panel(ax: Axes, r: BookScenarioRisk) -> None:
    """The place of the grid of a (book, underlying) the file gives only named scenarios
    (a stablecoin and its depegs): its title as a grid panel's, and a note."""
    m = r.matrix
    ax.axis("off")
    ax.text(0.5, 0.5, f"no price/vol grid for {m.underlying} in this scenario file:\n"
            "named scenarios only (right)", ha="center", va="center", fontsize=8,
            transform=ax.transAxes)
    ax.set_title(f"{m.book} {m.underlying}: worst loss {m.worst_loss:,.0f} USD"
                 + _worst_named(r) + _liq_text(r), fontsize=8)


def _worst_named(r: BookScenarioRisk) -> str:
    name = r.matrix.worst_scenario.name
    return f" ({name})" if name else ""


def _named_panel(ax: Axes, r: BookScenarioRisk, norm: Normalize) -> None:
    """The named stress scenarios of a panel as horizontal bars, coloured like the grid."""
    m = r.matrix
    idx = [i for i, name in enumerate(_names(r)) if name is not None]
    if not idx:
        ax.axis("off")
        return
    values = [float(m.pnl[i]) for i in idx]
    cmap = plt.get_cmap(PNL_CMAP)
    ys = np.arange(len(idx))
    ax.barh(ys, values, color=[cmap(norm(v)) for v in values], edgecolor="grey", lw=0.4)
    for y, (i, v) in enumerate(zip(idx, values, strict=True)):
        worst = i == m.worst_index
        ax.text(0, y, f" {_usd(v)}" + (" worst" if worst else ""), va="center",
                ha="left" if v < 0 else "right", fontsize=6,
                fontweight="bold" if worst else "normal")
        if worst:
            ax.barh([y], [v], fill=False, edgecolor="black", lw=2)
    ax.set_yticks(ys, [str(m.grid.names[i]) for i in idx], fontsize=6)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.8)
    scale = _scale(norm)
    ax.set_xlim(-scale, scale)
    ax.xaxis.set_major_formatter(FuncFormatter(_usd_tick))
    ax.xaxis.set_major_locator(MaxNLocator(3, symmetric=True))
    ax.tick_params(axis="x", labelsize=6)
    ax.set_xlabel("named scenario P&L (USD)", fontsize=7)


def _scale(norm: Normalize) -> float:
    """The half-width of risk_figure's colour scale (its norm runs from -scale to scale)."""
    assert norm.vmax is not None
    return norm.vmax


def _names(r: BookScenarioRisk) -> tuple[str | None, ...]:
    return r.matrix.grid.names or (None,) * len(r.matrix.grid)


def _mark_liquidation(ax: Axes, r: BookScenarioRisk, prices: list[float]) -> None:
    liq = r.liquidation
    if liq is None or len(prices) < 2:
        return
    for move, price in ((liq.move_down, liq.price_down), (liq.move_up, liq.price_up)):
        if move is None or not prices[0] <= move <= prices[-1]:
            continue
        x = float(np.interp(move, prices, np.arange(len(prices))))
        ax.axvline(x, color="black", ls="--", lw=1.2)
        label = f"liq {price_text(price, 0)}" if price is not None else f"liq {move:+.1%}"
        ax.text(x, -0.45, label, fontsize=7, ha="center", va="top", rotation=90,
                bbox={"fc": "white", "alpha": 0.7, "lw": 0})


def _liq_text(r: BookScenarioRisk) -> str:
    parts = liquidation_parts(r, "none in range", "+.2%", " @ {}", least=0)
    if parts is None:
        return "\n(no margin report: no liquidation distance)"
    return "\nliquidation " + ", ".join(parts)


def cascade_rounds(result: CascadeResult, path: str | Path, title: str = "") -> Path:
    """Write :func:`cascade_figure` as a PNG."""
    return save_png(cascade_figure(result, title), path)


def cascade_figure(result: CascadeResult, title: str = "") -> Figure:
    """A liquidation cascade: each round's price (line, left axis, with the initial and
    final prices dashed) and the USD of collateral it sold (bars, right axis)."""
    rounds = [r.round for r in result.rounds]
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    if not rounds:
        ax.axis("off")
        ax.text(0.5, 0.55, f"No loan is liquidated: at {result.asset} "
                f"{price_text(result.initial_price * (1 + result.shock))} USD "
                f"({result.shock:+.1%}) "
                "every loan with this collateral keeps a health factor of at least 1.",
                ha="center", va="center", wrap=True, fontsize=10, transform=ax.transAxes)
        ax.set_title(title or f"{result.asset} liquidation cascade", fontsize=9)
        return fig
    sold = ax.twinx()
    sold.bar(rounds, [r.sold_usd for r in result.rounds], color="tab:red", alpha=0.35,
             label="collateral sold (USD)")
    sold.set_ylabel("collateral sold in the round (USD)")
    # USD in k/M/B, never a "1e6" multiplier above the axis; prices as they are, never
    # an offset ("+8.71799999e4" above ticks of "-0.000125" when the rounds barely move)
    sold.yaxis.set_major_formatter(FuncFormatter(_usd_tick))
    prices = ScalarFormatter(useOffset=False)
    prices.set_scientific(False)
    ax.yaxis.set_major_formatter(prices)
    ax.plot(rounds, [r.price for r in result.rounds], "o-", color="tab:blue",
            label="round price (before its sale)")
    ax.axhline(result.initial_price, color="grey", ls="--", lw=1, label="initial price")
    ax.axhline(result.final_price, color="black", ls="--", lw=1,
               label=f"final price {price_text(result.final_price)}")
    ax.set_zorder(sold.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlabel("round")
    ax.set_ylabel(f"{result.asset} price (USD)")
    ax.set_xticks(rounds if len(rounds) <= 20 else rounds[:: max(1, len(rounds) // 10)])
    handles = ax.get_legend_handles_labels()
    bars = sold.get_legend_handles_labels()
    ax.legend(handles[0] + bars[0], handles[1] + bars[1], fontsize=8, loc="center right")
    ax.set_title(title or f"{result.asset} liquidation cascade", fontsize=9)
    fig.tight_layout()
    return fig


def var_distributions(reports: Sequence[BookVar], path: str | Path, title: str = "") -> Path:
    """Historical one-day P&L distribution per book (one panel each), with the VaR and
    ES losses marked as vertical lines and the worst day named."""
    return save_png(var_figure(reports, title), path)


def var_figure(reports: Sequence[BookVar], title: str = "") -> Figure:
    """The figure var_distributions writes."""
    n = max(len(reports), 1)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, squeeze=False, figsize=(7.0 * cols, 3.8 * rows + 0.5))
    for i, ax in enumerate(axes.flat):
        if i < len(reports):
            _var_panel(ax, reports[i])
        else:
            ax.axis("off")
    if not reports:
        axes[0][0].text(0.5, 0.5, "no books", ha="center", transform=axes[0][0].transAxes)
    first = reports[0] if reports else None
    if first is not None:
        whose = f"of {first.book}" if len(reports) == 1 else "by book"
        fig.suptitle(title or (
            f"Historical one-day P&L {whose}, {first.scenarios} days "
            f"{first.dates[0]} to {first.dates[-1]}, as of {format_ts(first.as_of_us)}"),
            fontsize=10)
    fig.tight_layout()
    return fig


def _usd(x: float, _pos: object = None) -> str:
    """An amount of USD in a cell, a title or a legend: whole dollars below 1,000, else
    three significant digits in k, M or B (1,499 is "1.50k", 999,999 "1.00M"). Whole k
    and tenths of M wrote a VaR of 1,499 as "1k" and the cells 1,500 and 2,499 both "2k"."""
    size = abs(x)
    if not size < 1e15:  # "1e+299", not three hundred digits that push the axes off the page
        return f"{x:.3g}"
    if size < 999.5:
        return f"{x:,.0f}"
    rounded = float(f"{x:.3g}")
    for unit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(rounded) >= unit:
            value = rounded / unit
            places = max(0, 2 - math.floor(math.log10(abs(value))))
            return f"{value:,.{places}f}{suffix}"
    return f"{x:,.0f}"  # (not reached: |rounded| >= 1,000 here)


def _usd_tick(x: float, _pos: object = None) -> str:
    """A USD axis's tick label: its value exactly (ticks are round numbers), in k, M or B
    like :func:`_usd`. _usd rounds to its digits, which labelled ticks 1,500 and 2,500
    "2k" beside the 2,000 tick, and ticks of a sub-dollar axis all "0"."""
    size = abs(x)
    if size >= 1e15:
        return f"{x:.3g}"
    for unit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= unit:
            return f"{x / unit:,.6g}{suffix}"
    return f"{x:,.6g}"


def _pct(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _histogram(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """np.histogram, but P&Ls that (nearly) all agree are drawn in one bar of a readable
    width: numpy cannot cut [1.0, 1.0000000000000002] into finite bins (ValueError)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    size = max(abs(lo), abs(hi))
    half = max(0.5, 1e-6 * size)  # USD: narrower is one value to a reader
    if hi - lo >= 2 * half:
        return np.histogram(values, bins=bins)
    # one bar, 4% as wide as the value's distance from the zero line the axis shows: a
    # bar of a dollar (or of a millionth of the value), cut in ten, was under a pixel
    # wide on an axis from 0 to -2.5M, and the picture of 20 equal days looked empty
    mid = lo / 2 + hi / 2
    half = max(0.5, 0.02 * size)
    return np.histogram(values, bins=1, range=(mid - half, mid + half))


def _var_panel(ax: Axes, r: BookVar) -> None:
    values = r.pnl
    counts, edges = _histogram(values, min(60, max(10, len(values) // 4)))
    # the tail's days (the k smallest P&Ls) red, stacked under the other days of their bin:
    # a bin red only when it lay wholly left of the VaR line left the k-th day (at the
    # line) and its bin's others blue, so the red days were fewer than the tail
    tail_counts, _ = np.histogram(np.sort(values)[:r.tail], bins=edges)
    width = np.diff(edges)
    ax.bar(edges[:-1], tail_counts, width=width, align="edge", color="tab:red", alpha=0.75,
           edgecolor="white", linewidth=0.4, label=f"tail: the {r.tail} worst day(s)")
    ax.bar(edges[:-1], counts - tail_counts, bottom=tail_counts, width=width, align="edge",
           color="tab:blue", alpha=0.75, edgecolor="white", linewidth=0.4)
    ax.axvline(-r.var, color="black", ls="--", lw=1.4,
               label=f"VaR {_pct(r.confidence)}: loss {_usd(r.var)} USD")
    ax.axvline(-r.es, color="tab:red", ls="-", lw=1.6,
               label=f"ES {_pct(r.confidence)}: loss {_usd(r.es)} USD")
    ax.axvline(0.0, color="grey", lw=0.8)
    worst = float(values[r.worst_index])
    # the worst day lies left of ES and VaR, so its label, up and to the right, lies across
    # their lines: it sits on a white box drawn over them
    ax.annotate(f"worst {r.worst_date}\n{_usd(worst)} USD", xy=(worst, 0), xytext=(0, 28),
                textcoords="offset points", ha="left", fontsize=7, zorder=5,
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#9ca3af", "lw": 0.6},
                arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.xaxis.set_major_formatter(FuncFormatter(_usd_tick))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("one-day P&L (USD, gains right, losses left)")
    ax.set_ylabel("days")
    ax.legend(fontsize=7, loc="upper left")
    note = f" (unshocked: {', '.join(r.unshocked)})" if r.unshocked else ""
    ax.set_title(f"{r.book}: VaR {_usd(r.var)}, ES {_usd(r.es)} USD at {_pct(r.confidence)} "
                 f"over {r.scenarios} days (tail {r.tail}){note}", fontsize=9)


def explain_waterfalls(rows: Sequence[Mapping[str, object]], path: str | Path, t0_us: int,
                       t1_us: int) -> Path:
    """P&L explain waterfalls, one panel per book (its underlyings added up): the
    components left to right as floating bars (blue up, red down: the RdBu ends of the
    risk matrices and the page), the residual last (grey), and the actual P&L as the
    closing total bar in a neutral dark grey (not blue: blue is a gain); USD on the axis."""
    return save_png(explain_figure(rows, t0_us, t1_us), path)


def explain_figure(rows: Sequence[Mapping[str, object]], t0_us: int, t1_us: int) -> Figure:
    """The figure explain_waterfalls writes."""
    from greekstream.core.explain import COMPONENTS

    books = sorted({str(r["book"]) for r in rows})
    fig, axes = plt.subplots(len(books) or 1, 1, squeeze=False,
                             figsize=(10, 3.6 * max(len(books), 1) + 0.6))
    labels = [*COMPONENTS, "actual"]
    for i, book in enumerate(books):
        ax = axes[i][0]
        mine = [r for r in rows if r["book"] == book]
        values = [sum(_amount(r, k) for r in mine) for k in COMPONENTS]
        actual = sum(_amount(r, "actual") for r in mine)
        level = 0.0
        for j, (name, v) in enumerate(zip(COMPONENTS, values, strict=True)):
            colour = RESIDUAL if name == "residual" else (GAIN if v >= 0 else LOSS)
            ax.bar(j, v, bottom=level, color=colour, width=0.7)
            ax.text(j, level + v if v >= 0 else level, f"{v:,.0f}", ha="center",
                    va="bottom", fontsize=8)
            level += v
        ax.bar(len(COMPONENTS), actual, color=TOTAL, width=0.7)
        ax.text(len(COMPONENTS), max(actual, 0.0), f"{actual:,.0f}", ha="center",
                va="bottom", fontsize=8, fontweight="bold")
        ax.axhline(0.0, color="black", linewidth=0.8)
        # room above the highest bar (and below the lowest) for the value written on it:
        # the limits stop at a bar's edge, and a label there ran into the panel's title
        lo, hi = ax.get_ylim()
        pad = 0.12 * ((hi - lo) or 1.0)
        ax.set_ylim(lo - pad if lo < 0 else lo, hi + pad)
        ax.set_xticks(range(len(labels)), [s.replace("_", " ") for s in labels])
        ax.set_ylabel("USD")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _p: f"{x:,.0f}"))
        unders = ", ".join(sorted(str(r["underlying"]) for r in mine))
        ax.set_title(f"{book} ({unders}): actual {actual:,.0f} USD", fontsize=10)
    if not books:
        axes[0][0].axis("off")
        axes[0][0].text(0.5, 0.5, "no positions or trades in the window", ha="center")
    fig.suptitle(f"P&L explain {format_ts(t0_us)} .. {format_ts(t1_us)}")
    # the top 0.45 in for that title: tight_layout alone drew it over the first panel's
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.45 / fig.get_figheight()))
    return fig


def _amount(row: Mapping[str, object], key: str) -> float:
    """One of explain_window's USD amounts (floats)."""
    value = row[key]
    if not isinstance(value, SupportsFloat):
        raise TypeError(f"explain row {key}: {value!r} is not a number")
    return float(value)
