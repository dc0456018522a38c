"""`greekstream cascade`: a liquidation cascade (docs/contract.md) over every loan in the state."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import orjson

from greekstream.commands._common import emit, parse_time_arg, write_png
from greekstream.core.cascade import (
    MAX_ROUNDS,
    CascadeResult,
    LoanArrays,
    book_pnl,
    cascade_json,
    run_cascade,
)
from greekstream.core.engine import Engine
from greekstream.core.guards import MAX_MAGNITUDE, MIN_MAGNITUDE
from greekstream.core.onchain import UnknownAssetError
from greekstream.core.timeutil import format_ts
from greekstream.errors import UsageError
from greekstream.reports.tables import price_text
from greekstream.runtime.replay import read_records, replay
from greekstream.runtime.scenario_files import MAX_PRICE_SHOCK, engine_config_from_env

HELP = "liquidation cascade: shock an asset, liquidate loans round by round, books' P&L"
EXAMPLES = """  greekstream cascade events.jsonl --asset ETH --shock -0.2 --depth 2000000
  greekstream cascade events.jsonl --asset ETH --shock -0.3 --depth 5e6 --format table
  greekstream cascade events.jsonl --asset ETH --shock -0.25 --depth 1e6 \\
      --as-of 2026-03-02T01:30:00Z --format png --out cascade.png
  greekstream sample --profile loans --count 2000 --asset WBTC --out wbtc.jsonl --quiet
  greekstream cascade wbtc.jsonl --asset WBTC --shock -0.25 --depth 1e6 --format table
(--depth is the USD of selling that moves the price down 1%)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("events", help="a .jsonl file of input events")
    p.add_argument("--asset", required=True, help="the collateral asset to shock, e.g. ETH")
    p.add_argument("--shock", required=True, type=float,
                   help="price shock as a fraction, above -1 and at most 10 (e.g. -0.2 for "
                        "-20%%)")
    p.add_argument("--depth", required=True, type=float, metavar="USD_PER_1PCT",
                   help="market depth: USD of selling that moves the price down 1%% "
                        "(1e-12 to 1e15)")
    p.add_argument("--as-of", help="RFC 3339 time (default: the last event's time)")
    p.add_argument("--format", choices=("json", "table", "png"), default="json")
    p.add_argument("--out", metavar="FILE",
                   help="write here instead of stdout (png: default cascade.png)")


@dataclass(frozen=True)
class CascadeReport:
    result: CascadeResult
    books: dict[str, float]
    as_of_us: int
    loans: int


def run(args: argparse.Namespace) -> int:
    _check_numbers(args.shock, args.depth)
    as_of = parse_time_arg(args.as_of, "--as-of")
    # the state the processors derived: their engine settings (GREEKSTREAM_ENGINE__*)
    result = replay(read_records(args.events), as_of, config=engine_config_from_env(),
                    keep_outputs=False)
    if result.as_of_us is None:
        raise UsageError(f"{args.events}: no events to evaluate")
    report = cascade_report(result.engine, result.as_of_us, args.asset, args.shock, args.depth)
    if args.format == "json":
        doc = cascade_json(report.result, report.books)
        emit(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n", args.out)
    elif args.format == "table":
        emit(table_text(report).encode(), args.out)
    else:
        from greekstream.reports.plots import cascade_rounds

        write_png(lambda out: cascade_rounds(report.result, out, title=_title(report)),
                  Path(args.out or "cascade.png"))
    return 0


def _check_numbers(shock: float, depth: float) -> None:
    """--shock in (-1, 10] (a scenario file's price-shock range: +1000 % at most), --depth
    from 1e-12 to 1e15 USD per 1% (the range of a number the engine takes in); NaN and
    ±inf fail both. Beyond, the prices and P&Ls overflowed to inf/NaN (a shock of 1e300
    printed 300-digit P&Ls)."""
    if not -1.0 < shock <= MAX_PRICE_SHOCK:
        raise UsageError(
            f"bad --shock {shock}: a price shock is a fraction above -1 and at most "
            f"{MAX_PRICE_SHOCK:g} (+{MAX_PRICE_SHOCK:.0%})",
            hint="-0.2 is a 20% fall, 0.5 a 50% rise; -1 would take the price to zero")
    if not MIN_MAGNITUDE <= depth <= MAX_MAGNITUDE:
        raise UsageError(
            f"bad --depth {depth}: the market depth is a number of USD from "
            f"{MIN_MAGNITUDE:g} to {MAX_MAGNITUDE:g}",
            hint="USD of selling that moves the price down 1%, e.g. 2000000")


def cascade_report(engine: Engine, as_of_us: int, asset: str, shock: float,
                   depth: float) -> CascadeReport:
    """The cascade of ``asset`` over every loan at ``as_of_us``, with each book's P&L."""
    _check_numbers(shock, depth)
    if engine.index_price(asset) is None:
        known = sorted(engine.index)
        raise UsageError(f"unknown asset {asset!r}: no index price at or before the as-of time",
                         hint=f"assets with an index: {', '.join(known) or 'none'}")
    loans = LoanArrays.of(engine.loans())
    try:
        result = run_cascade(loans, engine.index, asset, shock, depth)
    except UnknownAssetError as exc:  # the engine rejects such loans; a broken invariant
        raise RuntimeError(f"a loan in the state has no price: {exc}") from exc
    books = book_pnl(result, loans, engine.slices(as_of_us))
    return CascadeReport(result, books, as_of_us, len(loans))


def _title(report: CascadeReport) -> str:
    r = report.result
    return (f"{r.asset} {r.shock:+.1%} cascade, depth {r.depth:,.0f} USD per 1%, "
            f"{report.loans:,} loans, as of {format_ts(report.as_of_us)}")


def table_text(report: CascadeReport) -> str:
    r = report.result
    lines = [_title(report),
             f"initial price {price_text(r.initial_price, 4)}  shocked "
             f"{price_text(r.initial_price * (1 + r.shock), 4)}  final "
             f"{price_text(r.final_price, 4)} ({r.price_move:+.2%} from initial)"]
    if not r.rounds:
        lines.append("no loan is liquidated at the shocked price")
    else:
        lines.append(f"{'round':>5}  {'price':>16}  {'liquidated':>10}  {'sold USD':>18}")
        lines += [f"{x.round:>5}  {price_text(x.price, 4):>16}  {x.liquidated:>10,d}  "
                  f"{x.sold_usd:>18,.2f}" for x in r.rounds]
        if len(r.rounds) == MAX_ROUNDS:
            lines.append(f"(stopped after {MAX_ROUNDS} rounds)")
    # as wide as the longest book name: a longer one pushed its P&L out of the column
    width = max([24, *(len(book) for book in report.books)])
    lines.append(f"{'book':<{width}}  {'P&L USD':>18}")
    lines += [f"{book:<{width}}  {pnl:>18,.2f}" for book, pnl in report.books.items()]
    if not report.books:
        lines.append("(no book holds positions or loans in this asset)")
    return "\n".join(lines) + "\n"
