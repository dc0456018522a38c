"""`greekstream exposure`: exposures as of a time, answered from history."""

from __future__ import annotations

import argparse

from greekstream.commands._common import parse_time_arg, print_json
from greekstream.core.timeutil import format_ts
from greekstream.errors import UsageError
from greekstream.history.asof import exposures_as_of
from greekstream.history.client import connect
from greekstream.reports.tables import (
    EXPOSURE_FIELDS,
    EXPOSURE_HEADERS,
    exposure_rows,
    print_pnl_table,
    print_table,
)
from greekstream.runtime.scenario_files import engine_config_from_env

HELP = "exposures as of a time from ClickHouse history (same numbers as `replay --as-of`)"
EXAMPLES = """  greekstream replay events.jsonl --history chdb://$PWD/gs --quiet >/dev/null
  greekstream exposure chdb://$PWD/gs --as-of 2026-03-02T01:30:00Z
  greekstream exposure chdb://$PWD/gs --as-of 2026-03-02T01:30:00Z --book desk-a --format table
(`make demo`'s store, from the repository's folder: chdb://$PWD/demo-out/chdb; its day
is 2026-03-02, with the day's funding at 2026-03-03T00:00:00Z, the demo's as-of time)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dsn", help="chdb:///DIR or http(s)://USER:PASS@HOST:8123/DB")
    p.add_argument("--as-of", required=True, help="RFC 3339 time")
    p.add_argument("--book", help="only this book")
    p.add_argument("--format", choices=("json", "table"), default="json")


def run(args: argparse.Namespace) -> int:
    as_of = parse_time_arg(args.as_of, "--as-of")
    if as_of is None:
        raise UsageError("--as-of is required")
    # the processors' engine settings, as `replay --as-of` (a record one of them rejects,
    # as ts_ahead past a lowered max_ts_ahead_s, is not applied here either)
    config = engine_config_from_env()
    with connect(args.dsn) as history:
        rows = exposure_rows(exposures_as_of(history, as_of, book=args.book, config=config),
                             None)
    if args.format == "json":
        print_json(rows)
    else:
        print_table(EXPOSURE_HEADERS, [[r[k] for k in EXPOSURE_FIELDS] for r in rows],
                    title=f"exposures as of {format_ts(as_of)} (from {history.target})")
        print()
        print_pnl_table(rows, title=f"P&L (USD) as of {format_ts(as_of)}")
    return 0
