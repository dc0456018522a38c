"""`greekstream replay`: apply a file of events through the engine and report exposures."""

from __future__ import annotations

import argparse
import sys

from greekstream.commands._common import (
    EXPOSURE_FIELDS,
    ensure_dir,
    exposure_rows,
    parse_time_arg,
    print_json,
    print_table,
)
from greekstream.core.events import encode
from greekstream.core.timeutil import format_ts
from greekstream.progress import Progress
from greekstream.replay import ReplayResult, read_records, replay

HELP = "replay a JSONL file of events through the engine; print exposures as of a time"
EXAMPLES = """  greekstream replay events.jsonl
  greekstream replay events.jsonl --as-of 2026-03-02T14:05:00Z --format table
  greekstream replay events.jsonl --out out/   # exposures.jsonl, breaches.jsonl, ...
"""

OUTPUT_FILES = {
    "exposure": "exposures.jsonl",
    "breach": "breaches.jsonl",
    "hedge_intent": "hedge_intents.jsonl",
    "rejected": "rejected.jsonl",
    "risk_matrix": "risk_matrices.jsonl",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("events", help="a .jsonl file, one event per line")
    p.add_argument("--as-of", help="RFC 3339 time (default: the last event's ts)")
    p.add_argument("--format", choices=("json", "table"), default="json")
    p.add_argument("--out", metavar="DIR", help="write every output event, in order, here")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")


def run(args: argparse.Namespace) -> int:
    as_of = parse_time_arg(args.as_of, "--as-of")
    progress = Progress("replay", enabled=not args.quiet)
    result = replay(read_records(args.events), as_of_us=as_of, progress=progress)
    if args.out:
        write_outputs(result, args.out)
    show(result, args.format)
    if not args.quiet:
        summary(result)
    return 0


def write_outputs(result: ReplayResult, out: str) -> None:
    directory = ensure_dir(out)
    handles = {kind: (directory / name).open("wb") for kind, name in OUTPUT_FILES.items()}
    try:
        for event in result.outputs:
            handles[event.type].write(encode(event) + b"\n")
    finally:
        for h in handles.values():
            h.close()
    empty_risk = directory / OUTPUT_FILES["risk_matrix"]
    if empty_risk.stat().st_size == 0:
        empty_risk.unlink()


def show(result: ReplayResult, fmt: str) -> None:
    rows = exposure_rows(result.exposures(), None)
    if fmt == "json":
        print_json(rows)
        return
    as_of = format_ts(result.as_of_us) if result.as_of_us is not None else "(no events)"
    print_table(
        EXPOSURE_FIELDS,
        [[r[k] for k in EXPOSURE_FIELDS] for r in rows],
        title=f"exposures as of {as_of}",
    )


def summary(result: ReplayResult) -> None:
    counts: dict[str, int] = {}
    for event in result.outputs:
        counts[event.type] = counts.get(event.type, 0) + 1
    parts = ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items())) or "no outputs"
    print(
        f"replay: {result.applied:,} events applied, {result.engine.duplicates:,} duplicates "
        f"ignored, {result.skipped_after_as_of:,} after --as-of; outputs: {parts}",
        file=sys.stderr,
    )
