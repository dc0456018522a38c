"""`python -m greekstream.sample`: write a deterministic sample event file (JSONL)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from greekstream.sample import DEFAULT_SEED, MAX_EVENTS, MAX_LOANS, MAX_SEED
from greekstream.sample.generate import PROFILES, write_sample
from greekstream.sample.loans import ASSETS, write_loans

EXAMPLES = """examples:
  python -m greekstream.sample --out demo.jsonl                      # the demo day (~60k events)
  python -m greekstream.sample --profile bench --out bench.jsonl     # 1M events for bench/
  python -m greekstream.sample --profile bench --events 200000 --out b.jsonl
  python -m greekstream.sample --profile kafka-test --out small.jsonl
  python -m greekstream.sample --profile market --out market.jsonl   # >= 1M events, 10k quotes/s
  python -m greekstream.sample --profile market --events 100000 --out m.jsonl
  python -m greekstream.sample --out bad.jsonl --with-bad            # + bad records, a duplicate
  python -m greekstream.sample loans --count 5000 --asset ETH --out loans.jsonl
  python -m greekstream.sample history --out history.jsonl           # a year of daily closes

Same profile and seed give a byte-identical file."""

HISTORY_EXAMPLES = """examples:
  python -m greekstream.sample history --out history.jsonl
  python -m greekstream.sample history --days 500 --seed 3 --out h.jsonl
  greekstream replay history.jsonl --history chdb:///tmp/gs --quiet
  greekstream returns chdb:///tmp/gs --underlyings BTC,ETH --days 250 --out returns.csv

The model (fat tails, a crash week, ATM vol) is documented in greekstream/sample/history.py."""

LOANS_EXAMPLES = """examples:
  python -m greekstream.sample loans --count 5000 --asset ETH --out loans.jsonl
  python -m greekstream.sample loans --count 100000 --asset WBTC --seed 3 --out wbtc.jsonl
  greekstream cascade loans.jsonl --asset ETH --shock -0.2 --depth 5e6

The health-factor and size model is documented in greekstream/sample/loans.py."""


def _events_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m greekstream.sample",
        description="Write a deterministic sample event file (one JSON event per line, "
                    "docs/contract.md). Run `python -m greekstream.sample loans --help` for the "
                    "loan-population generator.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, metavar="FILE", help="the .jsonl file to write")
    p.add_argument("--profile", choices=PROFILES, default="demo",
                   help="demo: a Deribit-like day for `make demo`; bench: >= 1M events for "
                        "the engine benchmark; kafka-test: ~5k events of every type; market: "
                        "a live market at 10k quotes/s, 200 books, >= 1M events (streamed)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    p.add_argument("--events", type=int, metavar="N",
                   help="bench and market: number of events (default 1,000,000)")
    p.add_argument("--with-bad", action="store_true",
                   help="demo only: add bad records and one duplicate event")
    return p


def _loans_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m greekstream.sample loans",
        description="Write a lending-market loan population (index prices, then one `loan` "
                    "event per loan) for the liquidation cascade.",
        epilog=LOANS_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, metavar="FILE", help="the .jsonl file to write")
    p.add_argument("--count", type=int, default=5000, help="number of loans (default 5000)")
    p.add_argument("--asset", choices=ASSETS, default="ETH", help="collateral asset")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    p.add_argument("--price", type=float, help="collateral price (default: the demo's start)")
    return p


def _history_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m greekstream.sample history",
        description="Write daily market history ending the day before the demo day: BTC "
                    "and ETH index closes and one 30-day ATM option each per day (for "
                    "`greekstream returns` and `greekstream var`).",
        epilog=HISTORY_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, metavar="FILE", help="the .jsonl file to write")
    p.add_argument("--days", type=int, default=366, help="number of days (default 366)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["history"]:
        from greekstream.sample.history import write_history

        parser = _history_parser()
        args = parser.parse_args(args_list[1:])
        if not 2 <= args.days <= MAX_DAYS:
            parser.error(f"--days must be from 2 to {MAX_DAYS:,}")
        _check_bounds(parser, args)
        try:
            n = write_history(args.out, args.days, args.seed)
        except OSError as exc:
            parser.error(f"cannot write {args.out}: {exc.strerror or exc}")
        print(f"wrote {n:,} events to {args.out}", file=sys.stderr)
        return 0
    loans = args_list[:1] == ["loans"]
    parser = _loans_parser() if loans else _events_parser()
    args = parser.parse_args(args_list[1:] if loans else args_list)
    _check_bounds(parser, args)
    try:
        n = _run_loans(parser, args) if loans else _run_events(parser, args)
    except OSError as exc:
        parser.error(f"cannot write {args.out}: {exc.strerror or exc}")
    print(f"wrote {n:,} events to {args.out}", file=sys.stderr)
    return 0


MAX_DAYS = 36_600  # a century of daily closes


def _check_bounds(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The bounds `greekstream sample` holds to (commands/sample.py): numpy takes no
    negative seed, and a count past the caps would run for hours."""
    if args.seed < 0:
        parser.error(f"--seed {args.seed} is negative: a seed is 0 or more")
    if args.seed > MAX_SEED:  # (it is in every event_id: past 128 characters all rejected)
        parser.error(f"--seed {args.seed} is too large: a seed is 0 to {MAX_SEED} (2^64 - 1)")
    if getattr(args, "events", None) is not None and args.events > MAX_EVENTS:
        parser.error(f"--events {args.events:,} is too many: at most {MAX_EVENTS:,}")
    if getattr(args, "count", 1) > MAX_LOANS:
        parser.error(f"--count {args.count:,} is too many: at most {MAX_LOANS:,}")


def _run_loans(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.count < 1 or (args.price is not None and args.price <= 0):
        parser.error("--count and --price must be positive")
    return write_loans(Path(args.out), args.count, args.asset, args.seed, args.price)


def _run_events(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.events is not None and (args.profile not in ("bench", "market")
                                    or args.events < 10_000):
        parser.error("--events is for --profile bench or market, and at least 10000")
    if args.with_bad and args.profile != "demo":
        parser.error("--with-bad is only for --profile demo")
    return write_sample(args.out, args.profile, args.seed, args.with_bad, args.events)


if __name__ == "__main__":
    sys.exit(main())
