"""`greekstream sample`: write a deterministic sample events file to try every command on."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from greekstream.errors import UsageError
from greekstream.sample import MAX_EVENTS, MAX_LOANS, MAX_SEED

HELP = "write a deterministic sample events file (a desk's trading day) to try the commands on"
EXAMPLES = """  greekstream sample                    # events.jsonl: 2 h of 2026-03-02, ~5k events
  greekstream sample --profile day --out day.jsonl      # the demo's whole day, ~56k events
  greekstream sample --profile bench --events 20000 --out bench.jsonl
  greekstream sample --profile market --events 60000 --out market.jsonl   # its opening books
  greekstream sample --with-bad --out bad.jsonl         # + bad records and a duplicate
  greekstream sample --profile loans --count 500 --asset ETH --out loans.jsonl
  greekstream sample --profile returns --out returns.csv   # a year of daily returns, for var
  greekstream sample --profile day --out - --quiet | greekstream produce -   # to Kafka as made

Profiles (all start 2026-03-02T00:00:00Z; the same profile and seed give the same bytes):
  small  2 hours, ~5,000 events: 5 books, BTC/ETH options, futures, perpetuals, limits,
         hedge policies, margin reports, loans, LP positions, a reorg  (the default)
  day    the same desk over 24 hours, ~56,000 events (what `make demo` replays)
  bench  a dense options market of --events N events (default 1,000,000), for bench/
  market a live market, for bench/ and the Kafka runtime: BTC and ETH, ~1,500 options,
         futures and perpetuals, 200 books of 50-500 positions (the first ~60,000
         events), then 10,000 quotes/s of event time with index, trades, limits and
         collateral; at least --events N (default 1,000,000; whole seconds of quotes),
         written as it is generated
  loans  index prices and --count lending-market loans of --asset, for `cascade`
  returns  a CSV of 365 daily BTC/ETH/WBTC log returns and ATM-vol changes to 2026-03-01 (a
         sample with fat tails, not market data), for `var --returns`
"""

PROFILES = {"small": "kafka-test", "day": "demo", "bench": "bench", "market": "market",
            "loans": "loans", "returns": "returns"}


OUT_HINT = "choose a writable place with --out FILE"
LOANS, LOANS_ASSET = 5000, "ETH"  # --profile loans: --count and --asset by default


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=tuple(PROFILES), default="small",
                   help="what to generate (default small; see below)")
    p.add_argument("--out", default="events.jsonl", metavar="FILE",
                   help="the .jsonl file to write (default events.jsonl); - for stdout")
    p.add_argument("--seed", type=int, default=7, help="random seed, 0 to 2^64 - 1 (default 7)")
    p.add_argument("--events", type=int, metavar="N",
                   help=f"bench and market: number of events (10,000 to {MAX_EVENTS:,}; "
                        "default 1,000,000)")
    p.add_argument("--with-bad", action="store_true",
                   help="small/day: add bad records (each rejected with a reason) and a duplicate")
    p.add_argument("--count", type=int,
                   help=f"loans: number of loans (1 to {MAX_LOANS:,}; default {LOANS})")
    p.add_argument("--asset", help=f"loans: collateral asset (default {LOANS_ASSET})")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from greekstream.sample.generate import write_sample
    from greekstream.sample.loans import ASSETS, write_loans

    _check(args)
    to_stdout = args.out == "-"
    out = Path("/dev/stdout") if to_stdout else Path(args.out)  # (written in place)
    where = "stdout" if to_stdout else str(out)
    try:
        if args.profile == "returns":
            from greekstream.sample.returns import write_sample_returns

            n = write_sample_returns(out, seed=args.seed)
            print(f"wrote {n:,} days of returns to {where}", file=sys.stderr)
            return 0
        if args.profile == "loans":
            asset = LOANS_ASSET if args.asset is None else args.asset
            if asset not in ASSETS:
                raise UsageError(f"unknown --asset {asset!r}",
                                 hint=f"choose one of {', '.join(ASSETS)}")
            n = write_loans(out, LOANS if args.count is None else args.count, asset, args.seed,
                            show_progress=not args.quiet)
        else:
            n = write_sample(out, PROFILES[args.profile], args.seed, args.with_bad, args.events,
                             show_progress=not args.quiet)
    except BrokenPipeError:
        raise  # the reader of stdout went away (`| head`): the CLI stops quietly
    except OSError as exc:
        raise UsageError(f"cannot write {where}: {exc.strerror or exc}", hint=OUT_HINT) from exc
    print(f"wrote {n:,} events to {where}", file=sys.stderr)
    if not args.quiet and not to_stdout:
        print(f"next: greekstream replay {out} --format table", file=sys.stderr)
    return 0


def _check(args: argparse.Namespace) -> None:
    """Refuse bad flags before anything is generated or written."""
    if args.events is not None and (args.profile not in ("bench", "market")
                                    or args.events < 10_000):
        raise UsageError("--events is for --profile bench or market, and at least 10000")
    if args.events is not None and args.events > MAX_EVENTS:
        raise UsageError(f"--events {args.events:,} is too many: at most {MAX_EVENTS:,}",
                         hint="the benchmarks use --events 1000000 (the default)")
    if args.with_bad and args.profile not in ("small", "day"):
        raise UsageError("--with-bad is for --profile small or day")
    for flag, value in (("--count", args.count), ("--asset", args.asset)):
        if value is not None and args.profile != "loans":  # (it made the profile's file)
            raise UsageError(f"{flag} is for --profile loans",
                             hint=f"add --profile loans, or drop {flag}")
    if args.count is not None and not 1 <= args.count <= MAX_LOANS:
        raise UsageError(f"--count {args.count:,} is out of range: a number of loans "
                         f"from 1 to {MAX_LOANS:,}", hint="e.g. --count 5000 (the default)")
    if args.seed < 0:
        raise UsageError(f"--seed {args.seed} is negative: a seed is 0 or more",
                         hint="e.g. --seed 7 (the default)")
    if args.seed > MAX_SEED:  # (it is in every event_id: past 128 characters all rejected)
        raise UsageError(f"--seed {args.seed} is too large: a seed is 0 to {MAX_SEED} "
                         "(2^64 - 1)", hint="e.g. --seed 7 (the default)")
    if args.out == "-":
        return
    out = Path(args.out)
    try:
        directory = out.is_dir()
    except OSError as exc:  # a name too long, ...
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}", hint=OUT_HINT) from exc
    if not out.name or directory:
        what = "is a directory" if out.name else "names no file"
        raise UsageError(f"--out {args.out!r} {what}",
                         hint="name the file to write, e.g. --out events.jsonl")
