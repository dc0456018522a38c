"""`greekstream var`: historical VaR and expected shortfall of every book (docs/contract.md)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import orjson

from greekstream.commands._common import emit as _emit
from greekstream.commands._common import parse_time_arg, write_png
from greekstream.core.engine import Engine
from greekstream.core.timeutil import format_ts
from greekstream.core.var import DEFAULT_CONFIDENCE, BookVar, MissingReturns, Returns, portfolio_var
from greekstream.errors import UsageError
from greekstream.runtime.replay import ReplayResult, read_records, replay
from greekstream.runtime.returns_file import load_returns
from greekstream.runtime.scenario_files import engine_config_from_env

HELP = "historical VaR and expected shortfall per book: every underlying moved jointly"
EXAMPLES = """  greekstream sample --profile returns --out returns.csv --quiet   # a sample year
  greekstream var events.jsonl --returns returns.csv
  greekstream var events.jsonl --returns returns.csv --confidence 0.975 --format table
  greekstream var events.jsonl --returns returns.csv --as-of 2026-03-02T01:30:00Z --book desk-a
  greekstream var events.jsonl --returns returns.csv --format png --out var.png
  greekstream replay events.jsonl --history chdb://$PWD/gs --quiet >/dev/null
  greekstream var --from-history chdb://$PWD/gs --returns returns.csv --format table
(returns.csv: `date,BTC,BTC_vol,ETH,ETH_vol` then one row per day, log returns and
absolute ATM-vol changes; `greekstream sample --profile returns` writes a sample year)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("events", nargs="?", help="a .jsonl file of input events")
    p.add_argument("--returns", required=True, metavar="FILE",
                   help="CSV of daily joint moves: date, <U> log return, <U>_vol vol change")
    p.add_argument("--from-history", metavar="DSN",
                   help="replay the input records stored in this ClickHouse history instead")
    p.add_argument("--as-of", help="RFC 3339 time (default: the last event's time)")
    p.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE,
                   help=f"strictly between 0 and 1 (default {DEFAULT_CONFIDENCE})")
    p.add_argument("--book", help="only this book")
    p.add_argument("--format", choices=("json", "table", "png"), default="json")
    p.add_argument("--out", metavar="FILE",
                   help="write here instead of stdout (png: default var.png)")


def run(args: argparse.Namespace) -> int:
    if not 0.0 < args.confidence < 1.0 or not math.isfinite(args.confidence):
        raise UsageError(f"--confidence {args.confidence} is not strictly between 0 and 1",
                         hint="e.g. --confidence 0.99 (the 1% tail) or 0.975")
    if bool(args.events) == bool(args.from_history):
        raise UsageError("give either an events file or --from-history DSN (one of them)",
                         hint="greekstream var events.jsonl --returns returns.csv")
    as_of = parse_time_arg(args.as_of, "--as-of")
    returns = load_returns(args.returns)
    result = _replay(args, as_of)
    if result.as_of_us is None:
        raise UsageError("no events to evaluate")
    reports = var_reports(result.engine, result.as_of_us, returns, args.confidence, args.book)
    if args.format == "json":
        _emit(orjson.dumps(json_rows(reports), option=orjson.OPT_INDENT_2) + b"\n", args.out)
    elif args.format == "table":
        _emit(table_text(reports, result.as_of_us).encode(), args.out)
    else:
        from greekstream.reports.plots import var_distributions

        write_png(lambda out: var_distributions(reports, out), Path(args.out or "var.png"))
    return 0


def _replay(args: argparse.Namespace, as_of: int | None) -> ReplayResult:
    config = engine_config_from_env()  # the processors' settings: the state they derived
    if args.events:
        return replay(read_records(args.events), as_of, config=config, keep_outputs=False)
    from greekstream.history.asof import check_as_of
    from greekstream.history.client import connect
    from greekstream.history.migrate import require_schema
    from greekstream.history.replay_io import iter_raw

    with connect(args.from_history) as history:
        require_schema(history)
        if as_of is not None:
            check_as_of(history, as_of)
        return replay(iter_raw(history, t_to=as_of), as_of, config=config,
                      keep_outputs=False)


def var_reports(engine: Engine, as_of_us: int, returns: Returns,
                confidence: float = DEFAULT_CONFIDENCE, book: str | None = None) -> list[BookVar]:
    """Every book's VaR and ES at ``as_of_us`` (an unknown book or an uncovered underlying
    is a UsageError)."""
    known = sorted({k[0] for k in engine.books})
    if book is not None and book not in known:
        raise UsageError(f"unknown book {book!r}: no event at or before the as-of time has it",
                         hint=f"known books: {', '.join(known) or 'none'}")
    try:
        return portfolio_var(engine.slices(as_of_us, book), returns, as_of_us, confidence)
    except MissingReturns as exc:
        cols = ", ".join(exc.underlyings)
        raise UsageError(f"{exc}: its VaR cannot be computed",
                         hint=f"add the column(s) {cols} (daily log returns) to the returns "
                              "file") from exc


def json_row(r: BookVar) -> dict[str, object]:
    return {"book": r.book, "as_of": format_ts(r.as_of_us), "confidence": r.confidence,
            "scenarios": r.scenarios, "var": r.var, "es": r.es, "worst_date": r.worst_date}


def json_rows(reports: list[BookVar]) -> list[dict[str, object]]:
    return [json_row(r) for r in reports]


def table_text(reports: list[BookVar], as_of_us: int) -> str:
    if not reports:
        return f"no books as of {format_ts(as_of_us)}\n"
    r0 = reports[0]
    lines = [f"historical VaR and ES as of {format_ts(as_of_us)}: {r0.scenarios} days "
             f"({r0.dates[0]} .. {r0.dates[-1]}), confidence {float(r0.confidence)!r}, "
             f"tail of {r0.tail} day(s)"]
    rows = [["book", "VaR (USD)", "ES (USD)", "worst day", "worst P&L (USD)"]]
    for r in reports:
        rows.append([r.book, f"{r.var:,.0f}", f"{r.es:,.0f}", r.worst_date,
                     f"{float(r.pnl[r.worst_index]):,.0f}"])
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    for row in rows:
        lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines) + "\n"
