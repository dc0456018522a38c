"""`greekstream explain`: a window's P&L per (book, underlying) explained by Greeks."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import orjson

from greekstream.commands._common import books_in_file, emit, parse_time_arg, write_png
from greekstream.core.explain import COMPONENTS
from greekstream.core.timeutil import format_ts
from greekstream.errors import UsageError
from greekstream.runtime.explain import explain_window
from greekstream.runtime.replay import Record, read_records
from greekstream.runtime.scenario_files import engine_config_from_env

HELP = "explain a window's P&L by delta, gamma, vega, theta, vanna, volga, funding, trades"
EXAMPLES = """  greekstream explain events.jsonl --from 2026-03-02T01:00:00Z \\
      --to 2026-03-02T01:30:00Z
  greekstream explain events.jsonl --from 2026-03-02T01:00:00Z --to 2026-03-02T01:30:00Z \\
      --book desk-a --format table
  greekstream explain events.jsonl --from 2026-03-02T00:30:00Z --to 2026-03-02T01:30:00Z \\
      --format png --out explain.png
  greekstream replay events.jsonl --history chdb://$PWD/gs --quiet >/dev/null
  greekstream explain --from-history chdb://$PWD/gs --from 2026-03-02T01:00:00Z \\
      --to 2026-03-02T01:30:00Z --format table
(components add up, left to right, to `actual`; the residual is what the Greeks terms
do not explain: docs/pnl.md#pl-explain)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("events", nargs="?", help="a .jsonl file of input events, in time order")
    p.add_argument("--from-history", metavar="DSN",
                   help="read the input records stored in this ClickHouse history instead")
    p.add_argument("--from", dest="t_from", required=True, metavar="T0",
                   help="RFC 3339: the window starts after this time (positions held here)")
    p.add_argument("--to", dest="t_to", required=True, metavar="T1",
                   help="RFC 3339: the window ends at this time (included)")
    p.add_argument("--book", help="only this book")
    p.add_argument("--format", choices=("json", "table", "png"), default="json")
    p.add_argument("--out", metavar="FILE",
                   help="write here instead of stdout (png: default explain.png)")


def run(args: argparse.Namespace) -> int:
    if bool(args.events) == bool(args.from_history):
        raise UsageError("give either an events file or --from-history DSN (one of them)",
                         hint="greekstream explain events.jsonl --from T0 --to T1")
    t0 = parse_time_arg(args.t_from, "--from")
    t1 = parse_time_arg(args.t_to, "--to")
    assert t0 is not None and t1 is not None
    if t1 <= t0:
        raise UsageError("--to must be after --from",
                         hint="e.g. --from 2026-03-02T10:00:00Z --to 2026-03-02T11:00:00Z")
    config = engine_config_from_env()  # the processors' settings: the state they derived
    if args.events:
        rows = explain_window(read_records(args.events), t0, t1, args.book, config)
        if args.book is not None and not rows:
            # a typo said "no positions or trades in the window", as stress and var do not
            known = books_in_file(args.events, t1)
            if args.book not in known:
                raise UsageError(
                    f"unknown book {args.book!r}: no event at or before --to has it",
                    hint=f"known books: {', '.join(sorted(known)) or 'none'}")
    else:
        rows = explain_window(_history_records(args.from_history, args.book, t1), t0, t1,
                              args.book, config)
    if args.format == "json":
        emit(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n", args.out)
    elif args.format == "table":
        emit(table_text(rows, t0, t1).encode(), args.out)
    else:
        from greekstream.reports.plots import explain_waterfalls

        write_png(lambda out: explain_waterfalls(rows, out, t0, t1),
                  Path(args.out or "explain.png"))
    return 0


def _history_records(dsn: str, book: str | None, t1: int) -> Iterator[Record]:
    from greekstream.history.client import connect
    from greekstream.history.migrate import require_schema
    from greekstream.history.replay_io import iter_raw, require_book

    with connect(dsn) as history:
        require_schema(history)
        require_book(history, book)
        yield from iter_raw(history, book=book, t_to=t1)


def table_text(rows: list[dict[str, object]], t0: int, t1: int) -> str:
    """One line per (book, underlying): actual, then the components left to right."""
    title = f"P&L explain (USD), {format_ts(t0)} .. {format_ts(t1)}"
    if not rows:
        return f"{title}\nno positions or trades in the window\n"
    header = ["book", "underlying", "actual", *COMPONENTS]
    body = [[str(r["book"]), str(r["underlying"]),
             *(f"{float(r[k]):,.2f}" for k in ("actual", *COMPONENTS))]  # type: ignore[arg-type]
            for r in rows]
    widths = [max(len(line[j]) for line in [header, *body]) for j in range(len(header))]
    lines = [title]
    for line in [header, ["-" * w for w in widths], *body]:
        lines.append("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(line, widths, strict=True))))
    return "\n".join(lines) + "\n"
