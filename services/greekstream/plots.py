"""Matplotlib figures (Agg backend: no display needed). One function per figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from greekstream.core.onchain import CascadeResult
from greekstream.core.scenarios import BookScenarioRisk
from greekstream.core.timeutil import format_ts
from greekstream.core.var import BookVar


def risk_heatmaps(reports: Sequence[BookScenarioRisk], path: str | Path, title: str = "") -> Path:
    """Scenario P&L heatmaps: one row of panels per book, one panel per underlying.

    Columns are price shocks, rows are (vol shock, time shift); the worst cell is
    boxed and the liquidation moves are dashed vertical lines (when inside the grid).
    Named stress scenarios are not on the grid and are left out of the picture (and so
    is a (book, underlying) with only named scenarios: a stablecoin's depegs).
    """
    reports = [r for r in reports if None in _names(r)]
    books = sorted({r.matrix.book for r in reports})
    per_book = {b: [r for r in reports if r.matrix.book == b] for b in books}
    cols = max((len(v) for v in per_book.values()), default=1)
    fig, axes = plt.subplots(len(books) or 1, cols, squeeze=False,
                             figsize=(6.5 * cols, 3.2 * max(len(books), 1) + 0.6))
    for i, book in enumerate(books):
        for j in range(cols):
            ax = axes[i][j]
            if j < len(per_book[book]):
                _panel(ax, per_book[book][j])
            else:
                ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _panel(ax: Axes, r: BookScenarioRisk) -> None:
    m = r.matrix
    on_grid = [i for i, name in enumerate(_names(r)) if name is None]
    prices = sorted({float(m.grid.price_shock[i]) for i in on_grid})
    rows = list(dict.fromkeys((float(m.grid.vol_shock[i]), float(m.grid.time_shift_h[i]))
                              for i in on_grid))
    cells = np.full((len(rows), len(prices)), np.nan)
    for i in on_grid:
        key = (float(m.grid.vol_shock[i]), float(m.grid.time_shift_h[i]))
        cells[rows.index(key), prices.index(float(m.grid.price_shock[i]))] = m.pnl[i]
    scale = float(np.nanmax(np.abs(cells))) if np.isfinite(cells).any() else 1.0
    image = ax.imshow(cells, cmap="RdYlGn", vmin=-scale or -1.0, vmax=scale or 1.0,
                      aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="P&L (USD)")
    ax.set_xticks(range(len(prices)), [f"{p:+.0%}" for p in prices], fontsize=7, rotation=45)
    ax.set_yticks(range(len(rows)),
                  [f"σ{v:+.2f}" + (f" +{h:g}h" if h else "") for v, h in rows], fontsize=7)
    if m.worst_index in on_grid:
        sc = m.worst_scenario
        y = rows.index((sc.vol_shock, sc.time_shift_h))
        x = prices.index(sc.price_shock)
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, lw=2, ec="black"))
    _mark_liquidation(ax, r, prices)
    ax.set_title(f"{m.book} {m.underlying}: worst loss {m.worst_loss:,.0f} USD"
                 + _liq_text(r), fontsize=8)


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
        label = f"liq {price:,.0f}" if price is not None else f"liq {move:+.1%}"
        ax.text(x, -0.45, label, fontsize=7, ha="center", va="top", rotation=90,
                bbox={"fc": "white", "alpha": 0.7, "lw": 0})


def _liq_text(r: BookScenarioRisk) -> str:
    liq = r.liquidation
    if liq is None:
        return "\n(no margin report: no liquidation distance)"
    parts = []
    for side, move, price in (("down", liq.move_down, liq.price_down),
                              ("up", liq.move_up, liq.price_up)):
        if move is None:
            parts.append(f"{side}: none in range")
        else:
            at = f" @ {price:,.0f}" if price is not None else ""
            parts.append(f"{side} {move:+.2%}{at}")
    return "\nliquidation " + ", ".join(parts)


def cascade_rounds(result: CascadeResult, path: str | Path, title: str = "") -> Path:
    """A liquidation cascade: each round's price (line, left axis, with the initial and
    final prices dashed) and the USD of collateral it sold (bars, right axis)."""
    rounds = [r.round for r in result.rounds]
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    sold = ax.twinx()
    sold.bar(rounds, [r.sold_usd for r in result.rounds], color="tab:red", alpha=0.35,
             label="collateral sold (USD)")
    sold.set_ylabel("collateral sold in the round (USD)")
    ax.plot(rounds, [r.price for r in result.rounds], "o-", color="tab:blue",
            label="round price (before its sale)")
    ax.axhline(result.initial_price, color="grey", ls="--", lw=1, label="initial price")
    ax.axhline(result.final_price, color="black", ls="--", lw=1,
               label=f"final price {result.final_price:,.2f}")
    ax.set_zorder(sold.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlabel("round")
    ax.set_ylabel(f"{result.asset} price (USD)")
    if rounds:
        ax.set_xticks(rounds if len(rounds) <= 20 else rounds[:: max(1, len(rounds) // 10)])
    else:
        ax.text(0.5, 0.5, "no loan liquidated at the shocked price", transform=ax.transAxes,
                ha="center")
    handles = ax.get_legend_handles_labels()
    bars = sold.get_legend_handles_labels()
    ax.legend(handles[0] + bars[0], handles[1] + bars[1], fontsize=8, loc="center right")
    ax.set_title(title or f"{result.asset} liquidation cascade", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def var_distributions(reports: Sequence[BookVar], path: str | Path, title: str = "") -> Path:
    """Historical one-day P&L distribution per book (one panel each), with the VaR and
    ES losses marked as vertical lines and the worst day named."""
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
        fig.suptitle(title or (
            f"Historical one-day P&L by book, {first.scenarios} days "
            f"{first.dates[0]} to {first.dates[-1]}, as of {format_ts(first.as_of_us)}"),
            fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _usd(x: float, _pos: object = None) -> str:
    size = abs(x)
    if size >= 1e9:
        return f"{x / 1e9:,.1f}B"
    if size >= 1e6:
        return f"{x / 1e6:,.1f}M"
    if size >= 1e3:
        return f"{x / 1e3:,.0f}k"
    return f"{x:,.0f}"


def _pct(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _var_panel(ax: Axes, r: BookVar) -> None:
    values = r.pnl
    bins = min(60, max(10, len(values) // 4))
    counts, edges = np.histogram(values, bins=bins)
    tail = -r.var
    colors = ["tab:red" if hi <= tail + 1e-9 * max(abs(tail), 1.0) else "tab:blue"
              for hi in edges[1:]]
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=colors,
           alpha=0.75, edgecolor="white", linewidth=0.4)
    ax.axvline(-r.var, color="black", ls="--", lw=1.4,
               label=f"VaR {_pct(r.confidence)}: loss {_usd(r.var)} USD")
    ax.axvline(-r.es, color="tab:red", ls="-", lw=1.6,
               label=f"ES {_pct(r.confidence)}: loss {_usd(r.es)} USD")
    ax.axvline(0.0, color="grey", lw=0.8)
    worst = float(values[r.worst_index])
    ax.annotate(f"worst {r.worst_date}\n{_usd(worst)} USD", xy=(worst, 0), xytext=(0, 28),
                textcoords="offset points", ha="left", fontsize=7,
                arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.xaxis.set_major_formatter(FuncFormatter(_usd))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("one-day P&L (USD, gains right, losses left)")
    ax.set_ylabel("days")
    ax.legend(fontsize=7, loc="upper left")
    note = f" (unshocked: {', '.join(r.unshocked)})" if r.unshocked else ""
    ax.set_title(f"{r.book}: VaR {_usd(r.var)}, ES {_usd(r.es)} USD at {_pct(r.confidence)} "
                 f"over {r.scenarios} days (tail {r.tail}){note}", fontsize=9)


def explain_waterfalls(rows: Sequence[dict[str, object]], path: str | Path, t0_us: int,
                       t1_us: int) -> Path:
    """P&L explain waterfalls, one panel per book (its underlyings added up): the
    components left to right as floating bars (green up, red down), the residual last
    (grey), and the actual P&L as the closing total bar; USD on the axis."""
    from greekstream.core.explain import COMPONENTS

    books = sorted({str(r["book"]) for r in rows})
    fig, axes = plt.subplots(len(books) or 1, 1, squeeze=False,
                             figsize=(10, 3.6 * max(len(books), 1) + 0.6))
    labels = [*COMPONENTS, "actual"]
    for i, book in enumerate(books):
        ax = axes[i][0]
        mine = [r for r in rows if r["book"] == book]
        values = [sum(float(r[k]) for r in mine) for k in COMPONENTS]  # type: ignore[arg-type]
        actual = sum(float(r["actual"]) for r in mine)  # type: ignore[arg-type]
        level = 0.0
        for j, (name, v) in enumerate(zip(COMPONENTS, values, strict=True)):
            colour = "#9e9e9e" if name == "residual" else ("#2e7d32" if v >= 0 else "#c62828")
            ax.bar(j, v, bottom=level, color=colour, width=0.7)
            ax.text(j, level + v if v >= 0 else level, f"{v:,.0f}", ha="center",
                    va="bottom", fontsize=8)
            level += v
        ax.bar(len(COMPONENTS), actual, color="#1565c0", width=0.7)
        ax.text(len(COMPONENTS), max(actual, 0.0), f"{actual:,.0f}", ha="center",
                va="bottom", fontsize=8, fontweight="bold")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(labels)), [s.replace("_", " ") for s in labels])
        ax.set_ylabel("USD")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _p: f"{x:,.0f}"))
        unders = ", ".join(sorted(str(r["underlying"]) for r in mine))
        ax.set_title(f"{book} ({unders}): actual {actual:,.0f} USD", fontsize=10)
    if not books:
        axes[0][0].axis("off")
        axes[0][0].text(0.5, 0.5, "no positions or trades in the window", ha="center")
    fig.suptitle(f"P&L explain {format_ts(t0_us)} .. {format_ts(t1_us)}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
