"""`greekstream returns`: the daily returns CSV for `greekstream var`, from stored history."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from greekstream.errors import UsageError
from greekstream.runtime.returns_file import write_returns

HELP = "build a returns CSV (daily log returns and ATM-vol changes) from stored history"
EXAMPLES = """  python -m greekstream.sample history --out h.jsonl  # a sample year, daily
  greekstream replay h.jsonl --history chdb://$PWD/gs --quiet >/dev/null
  greekstream returns chdb://$PWD/gs --underlyings BTC,ETH --days 250 --out returns.csv
  greekstream returns chdb://$PWD/gs --underlyings BTC --days 30 --to 2026-03-01 --out r.csv
  greekstream returns http://default:secret@clickhouse:8123/greekstream \\
      --underlyings BTC,ETH --days 250 --no-vol --out returns.csv
(close = the last stored index event of each UTC day; ATM vol = the mark_iv of the option
nearest to 30 days and to the money, each day; a day missing in the window is an error)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dsn", help="chdb:///DIR or http(s)://USER:PASS@HOST:8123/DB")
    p.add_argument("--underlyings", required=True, metavar="U,U",
                   help="comma-separated underlyings, e.g. BTC,ETH")
    p.add_argument("--days", type=int, default=250, help="number of daily returns (default 250)")
    p.add_argument("--to", metavar="YYYY-MM-DD",
                   help="the last day (default: the last day with a close of every underlying)")
    p.add_argument("--no-vol", action="store_true", help="leave out the <U>_vol columns")
    p.add_argument("--out", required=True, metavar="FILE", help="the CSV to write")


def run(args: argparse.Namespace) -> int:
    from greekstream.history.client import connect
    from greekstream.history.migrate import require_schema
    from greekstream.history.returns import build_returns

    names = [u.strip() for u in args.underlyings.split(",") if u.strip()]
    if not names or len(set(names)) != len(names):
        raise UsageError(f"--underlyings {args.underlyings!r}: give distinct names, e.g. BTC,ETH")
    if args.days < 1:
        raise UsageError(f"--days {args.days}: at least 1")
    try:
        to = date.fromisoformat(args.to) if args.to else None
    except ValueError as exc:
        raise UsageError(f"--to {args.to!r} is not YYYY-MM-DD") from exc
    with connect(args.dsn) as history:
        require_schema(history)
        returns = build_returns(history, names, args.days, to, with_vol=not args.no_vol)
    try:
        write_returns(args.out, returns)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror}") from exc
    print(f"wrote {len(returns)} days ({returns.dates[0]} .. {returns.dates[-1]}) of "
          f"{', '.join(names)} to {args.out}", file=sys.stderr)
    return 0
