"""`greekstream stress`: scenario risk matrices and liquidation distances of every book."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import orjson

from greekstream.commands._common import emit as _emit
from greekstream.commands._common import parse_time_arg, write_png
from greekstream.core.engine import Engine
from greekstream.core.scenarios import BookScenarioRisk, book_scenario_risk
from greekstream.core.timeutil import format_ts
from greekstream.errors import UsageError
from greekstream.reports.tables import liquidation_parts, price_text, shock_text
from greekstream.runtime.replay import read_records, replay
from greekstream.runtime.scenario_files import (
    DEFAULT_CONFIG,
    ScenarioConfig,
    engine_config_from_env,
    load,
)

TOTAL = "ALL"  # the `underlying` of a book's total row
# why there is no (book, underlying) to show: a book of stablecoins only (collateral, a
# USDC loan) has positions, but no scenario of the default grid moves a stablecoin
NOTHING_TO_REVALUE = ("no positions, or only stablecoins, which this scenario file does "
                      "not shock (the `library` preset has depeg scenarios)")
HELP = "full-revaluation scenario P&L, worst loss and liquidation distance per book"
EXAMPLES = """  greekstream stress events.jsonl --format table
  greekstream stress events.jsonl --as-of 2026-03-02T01:30:00Z --book desk-a
  greekstream stress events.jsonl --scenarios pm --format json --out risk.json
  greekstream stress events.jsonl --scenarios library --format png --out risk.png
  greekstream stress events.jsonl --scenarios library --book desk-a --format table
  greekstream stress events.jsonl --format png --out grid.png
Scenario files: pm (portfolio-margin grid, tenor-scaled vol), library (named
historical-like and hypothetical stress scenarios), or your own YAML/JSON file (shapes in
docs/scenarios.md).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("events", help="a .jsonl file of input events")
    p.add_argument("--as-of", help="RFC 3339 time (default: the last event's time)")
    p.add_argument("--scenarios", metavar="FILE",
                   help="grid / named-scenario file, YAML or JSON, or a preset: `pm` "
                        "(portfolio-margin grid, tenor-scaled vol) or `library` (named "
                        "stress scenarios) (default: the 15x3 grid of docs/contract.md)")
    p.add_argument("--book", help="only this book")
    p.add_argument("--format", choices=("json", "table", "png"), default="json")
    p.add_argument("--out", metavar="FILE",
                   help="write here instead of stdout (png: default stress.png)")


def run(args: argparse.Namespace) -> int:
    as_of = parse_time_arg(args.as_of, "--as-of")
    config = load(args.scenarios) if args.scenarios else DEFAULT_CONFIG
    # the state the processors derived: their engine settings (GREEKSTREAM_ENGINE__*)
    result = replay(read_records(args.events), as_of, config=engine_config_from_env(),
                    keep_outputs=False)
    if result.as_of_us is None:
        raise UsageError(f"{args.events}: no events to evaluate")
    reports = stress_reports(result.engine, result.as_of_us, config, args.book)
    if args.format == "json":
        _emit(orjson.dumps(json_rows(reports, result.as_of_us), option=orjson.OPT_INDENT_2)
              + b"\n", args.out)
    elif args.format == "table":
        _emit(table_text(reports, result.as_of_us).encode(), args.out)
    else:
        from greekstream.reports.plots import risk_heatmaps

        title = f"Scenario P&L ({Path(config.source).name or 'default grid'})"
        write_png(lambda out: risk_heatmaps(reports, out, as_of_us=result.as_of_us,
                                            title=title), Path(args.out or "stress.png"))
    return 0


def stress_reports(
    engine: Engine, as_of_us: int, config: ScenarioConfig = DEFAULT_CONFIG,
    book: str | None = None,
) -> list[BookScenarioRisk]:
    """Every (book, underlying) at ``as_of_us``; checks the book and the file's underlyings."""
    config.check_underlyings(set(engine.underlyings))
    if book is not None and book not in {k[0] for k in engine.books}:
        known = sorted({k[0] for k in engine.books})
        raise UsageError(f"unknown book {book!r}: no event at or before the as-of time has it",
                         hint=f"known books: {', '.join(known) or 'none'}")
    return [
        book_scenario_risk(s, grid, engine.margin(s.book, s.underlying))
        for s in engine.slices(as_of_us, book)
        for grid in [config.grid_for(s.underlying)]
        if len(grid)  # a stablecoin without a depeg scenario has nothing to shock
    ]


@dataclass(frozen=True)
class BookTotal:
    """A book's named (joint) scenarios summed over its underlyings."""

    book: str
    names: tuple[str, ...]
    pnl: tuple[float, ...]
    by_underlying: tuple[dict[str, float], ...]

    @property
    def worst_index(self) -> int:
        return min(range(len(self.pnl)), key=lambda i: (self.pnl[i], i))

    @property
    def worst_loss(self) -> float:
        return max(0.0, -self.pnl[self.worst_index])


def book_totals(reports: list[BookScenarioRisk]) -> dict[str, BookTotal]:
    """Per book with named scenarios: each scenario's P&L over all the book's underlyings
    (an underlying the scenario does not shock adds nothing), in the file's order."""
    parts: dict[str, dict[str, dict[str, float]]] = {}
    for r in reports:
        m = r.matrix
        for i, name in enumerate(m.grid.names):
            if name is not None:
                per_name = parts.setdefault(m.book, {}).setdefault(name, {})
                per_name[m.underlying] = float(m.pnl[i])
    return {
        book: BookTotal(book, tuple(named), tuple(sum(v.values()) for v in named.values()),
                        tuple(named.values()))
        for book, named in parts.items()
    }


def json_rows(reports: list[BookScenarioRisk], as_of_us: int) -> list[dict[str, object]]:
    """One object per (book, underlying); after a book's, its total over underlyings of
    the named scenarios (``"underlying": "ALL"``) when there are any."""
    totals = book_totals(reports)
    rows: list[dict[str, object]] = []
    for i, r in enumerate(reports):
        rows.append(_json_row(r, as_of_us))
        book = r.matrix.book
        last = i + 1 == len(reports) or reports[i + 1].matrix.book != book
        if last and book in totals:
            rows.append(_total_row(totals[book], as_of_us))
    return rows


def _total_row(t: BookTotal, as_of_us: int) -> dict[str, object]:
    scenarios = [{"name": n, "pnl": x, "by_underlying": parts}
                 for n, x, parts in zip(t.names, t.pnl, t.by_underlying, strict=True)]
    return {"book": t.book, "underlying": TOTAL, "as_of": format_ts(as_of_us),
            "scenarios": scenarios, "worst_loss": t.worst_loss,
            "worst_scenario": scenarios[t.worst_index]}


def _json_row(r: BookScenarioRisk, as_of_us: int) -> dict[str, object]:
    m = r.matrix
    scenarios = []
    for i, sc in enumerate(m.grid.scenarios()):
        row: dict[str, object] = {"price_shock": sc.price_shock, "vol_shock": sc.vol_shock,
                                  "time_shift_h": sc.time_shift_h, "pnl": float(m.pnl[i])}
        if sc.name is not None:
            row["name"] = sc.name
        scenarios.append(row)
    liq = r.liquidation
    return {
        "book": m.book,
        "underlying": m.underlying,
        "as_of": format_ts(as_of_us),
        "index_price": r.index_price,
        "scenarios": scenarios,
        "worst_loss": m.worst_loss,
        "worst_scenario": scenarios[m.worst_index],
        "liq_move_down": liq.move_down if liq else None,
        "liq_move_up": liq.move_up if liq else None,
        "liq_price_down": liq.price_down if liq else None,
        "liq_price_up": liq.price_up if liq else None,
    }


# ----------------------------------------------------------------------------- table


def table_text(reports: list[BookScenarioRisk], as_of_us: int) -> str:
    if not reports:
        return (f"nothing to revalue as of {format_ts(as_of_us)}: {NOTHING_TO_REVALUE}\n")
    totals = book_totals(reports)
    parts = []
    for i, r in enumerate(reports):
        parts.append(_book_table(r, as_of_us))
        book = r.matrix.book
        if (i + 1 == len(reports) or reports[i + 1].matrix.book != book) and book in totals:
            parts.append(_total_table(totals[book]))
    return "\n".join(parts)


def _total_table(t: BookTotal) -> str:
    lines = [f"{t.book} ALL underlyings together: named scenarios (joint), worst loss "
             f"{_money(t.worst_loss)} USD at {t.names[t.worst_index]}"]
    rows = []
    for i, (name, total, by) in enumerate(zip(t.names, t.pnl, t.by_underlying, strict=True)):
        mark = "*" if i == t.worst_index else " "
        detail = ", ".join(f"{u} {_money(x)}" for u, x in sorted(by.items()))
        rows.append([f"  {name}", _money(total) + mark, f"({detail})"])
    lines += _align(rows, left=(0, 2))
    return "\n".join(lines) + "\n"


def _book_table(r: BookScenarioRisk, as_of_us: int) -> str:
    m = r.matrix
    sc = m.worst_scenario
    spot = price_text(r.index_price) if r.index_price is not None else "n/a"
    lines = [
        f"{m.book} {m.underlying}  as of {format_ts(as_of_us)}  index {spot}",
        f"worst loss {_money(m.worst_loss)} USD at "
        + _describe(sc.price_shock, sc.vol_shock, sc.time_shift_h, sc.name),
        _liq_line(r),
    ]
    names = m.grid.names or (None,) * len(m.grid)
    on_grid = [i for i, n in enumerate(names) if n is None]
    prices = sorted({float(m.grid.price_shock[i]) for i in on_grid})  # as the heatmap
    rows = list(dict.fromkeys((float(m.grid.vol_shock[i]), float(m.grid.time_shift_h[i]))
                              for i in on_grid))
    cell: dict[tuple[float, float, float], str] = {}
    for i in on_grid:
        key = (float(m.grid.vol_shock[i]), float(m.grid.time_shift_h[i]),
               float(m.grid.price_shock[i]))
        cell[key] = _money(float(m.pnl[i])) + ("*" if i == m.worst_index else " ")
    head = ["vol \\ price"] + [f"{shock_text(p * 100)}%" for p in prices]
    body = [[_row_label(v, h)] + [cell.get((v, h, p), "-") for p in prices] for v, h in rows]
    lines += _align([head, *body])
    named = [i for i, n in enumerate(names) if n is not None]
    if named:
        lines.append("named scenarios:")
        listed = []
        for i in named:
            mark = "*" if i == m.worst_index else " "
            s = m.grid.scenario(i)
            listed.append([f"  {s.name}", _describe(s.price_shock, s.vol_shock,
                                                     s.time_shift_h),
                           _money(float(m.pnl[i])) + mark])
        # P&Ls right-aligned in one column, whatever the lengths of names and shocks
        lines += _align(listed, left=(0, 1))
    lines.append("(* = worst)")
    return "\n".join(lines) + "\n"


def _align(table: list[list[str]], left: tuple[int, ...] = (0,)) -> list[str]:
    """Columns of equal width, those in ``left`` left-aligned, the others right-aligned."""
    widths = [max(len(row[j]) for row in table) for j in range(len(table[0]))]
    return ["  ".join(c.ljust(w) if j in left else c.rjust(w) for j, (c, w) in
                      enumerate(zip(row, widths, strict=True))).rstrip() for row in table]


def _money(x: float) -> str:
    """A whole number of USD; "n/a" for NaN or ±inf (round() of one raises)."""
    if not math.isfinite(x):
        return "n/a"
    return "0" if round(x) == 0 else f"{x:,.0f}"


def _row_label(v: float, h: float) -> str:
    return f"vol {shock_text(v, 2)}" + (f" +{h:g}h" if h else "")


def _describe(p: float, v: float, h: float, name: str | None = None) -> str:
    text = (f"price {shock_text(p * 100, 1)}%, vol {shock_text(v, 2)}"
            + (f", +{h:g}h" if h else ""))
    return f"{name} ({text})" if name else text


def _liq_line(r: BookScenarioRisk) -> str:
    parts = liquidation_parts(r, "no crossing in range", "+.4%", " at {}")
    if parts is None:
        return "liquidation: no margin report for this book and underlying"
    return "liquidation: " + ", ".join(parts)


def summary_lines(reports: list[BookScenarioRisk]) -> list[str]:
    """One line per (book, underlying): worst loss and liquidation distance (for `demo`)."""
    lines = []
    for r in reports:
        m = r.matrix
        name = m.worst_scenario.name
        at = f" ({name})" if name else ""
        lines.append(f"{m.book:<12} {m.underlying:<6} worst loss {m.worst_loss:>14,.0f} USD"
                     f"{at}  {_liq_line(r)}")
    return lines
