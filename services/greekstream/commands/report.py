"""`greekstream report DSN --date D --key KEY`: the signed end-of-day report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import orjson

from greekstream.errors import UsageError
from greekstream.history.client import connect
from greekstream.history.report import build_report, day_bounds
from greekstream.reports.signing import load_private, sign
from greekstream.runtime.whole_file import write_whole

HELP = ("write the signed (Ed25519) end-of-day report of a UTC day from history: per book "
        "exposures and P&L at the end of the day, breaches, hedge intents, hash-chain head")
# a key, a day, its history and its signed report, in the current folder (verify's
# examples start with the same steps)
MAKE_A_REPORT = """  greekstream keygen gs-key --force
  python -m greekstream.sample --profile kafka-test --out gs-events.jsonl
  greekstream replay gs-events.jsonl --history chdb://$PWD/gs-report --quiet
  greekstream report chdb://$PWD/gs-report --date 2026-03-02 --key gs-key \\
      --out gs-report-2026-03-02.json
"""
EXAMPLES = MAKE_A_REPORT + """  greekstream verify gs-report-2026-03-02.json --pubkey gs-key.pub \\
      --dsn chdb://$PWD/gs-report
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dsn", help="chdb:///DIR or http(s)://USER:PASS@HOST:8123/DB")
    p.add_argument("--date", required=True, help="the UTC day, e.g. 2026-03-01")
    p.add_argument("--key", required=True, help="private key written by `greekstream keygen`")
    p.add_argument("--out", help="write the report here (default: standard output)")


def run(args: argparse.Namespace) -> int:
    day_bounds(args.date)  # a bad day is refused before the key or the store is opened
    if args.out is not None and _same_file(args.out, args.key):
        # the report was written over the private key: the only copy of it, gone
        raise UsageError(f"--out {args.out} is the private key given by --key: the report "
                         "would replace it", hint="give --out another file, e.g. "
                         f"gs-report-{args.date}.json")
    key = load_private(args.key)
    with connect(args.dsn) as history:
        report = build_report(history, args.date)
    body = orjson.dumps(sign(report, key), option=orjson.OPT_INDENT_2) + b"\n"
    if args.out is None:
        sys.stdout.buffer.write(body)
        return 0
    try:
        write_whole(args.out, body)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror}") from exc
    books = ", ".join(report["books"]) or "no books"
    print(f"signed report of {args.date} ({books}) written to {args.out}", file=sys.stderr)
    return 0


def _same_file(a: str, b: str) -> bool:
    """Do two paths name one file (the same path, or links to one)?"""
    try:
        return Path(a).resolve() == Path(b).resolve() or os.path.samefile(a, b)
    except (OSError, RuntimeError):  # (one does not exist, or a symlink loop: not one)
        return False
