"""Bytes per `risk_matrix` event: the columnar payload against v1's list of objects
(issue 12, item 5; goal: at least 5x smaller per matrix).

    .venv/bin/python bench/bench_matrix_size.py            # every matrix of 20,000 bench events
    .venv/bin/python bench/bench_matrix_size.py --quick    # the first 5,000 matrices
    .venv/bin/python bench/bench_matrix_size.py --profile kafka-test

A real replay (``python -m greekstream.sample --profile bench``, the engine's defaults:
scenario risk every 60 s of event time on the 45-cell default grid). Every matrix the
engine emits is measured twice, both as compact JSON (``events.encode``, what the Kafka
topic, ``risk_matrices.jsonl`` and history carry): as emitted (``price_shocks``,
``vol_shocks``, ``time_shift_h``, ``names``, ``pnl`` parallel arrays) and turned back
into v1's shape (``scenarios``: one object per cell, v1's keys in v1's order), every
other field the same. No number is rounded. It also splits the columnar event into its
parts, so the figure says what bounds it: the P&L digits (shortest round-trip floats,
~17 characters each) and the fixed fields (ids, times, the worst scenario and the two
64-character hash-chain links).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from goals import goal
from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import encode
from greekstream.history.rows import MATRIX_COLUMNS
from greekstream.runtime.replay import read_records

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests/
from tests.golden.test_v1_outputs import v1_risk_matrix

GOAL = 5.0
COLUMNS = MATRIX_COLUMNS  # the event's five arrays, as history stores them


def v1_shape(record: dict[str, Any]) -> dict[str, Any]:
    """The matrix in v1's shape, as the golden test projects it (``scenarios``, v1's keys
    in v1's order), without the columns: the same bytes as v1's event (key order does
    not change an object's size)."""
    v1 = v1_risk_matrix(record)
    return {k: v for k, v in v1.items() if k not in COLUMNS}


def measure(out: Any, new: list[int], old: list[int], parts: dict[str, list[int]],
            cells: list[int]) -> None:
    body = encode(out)
    record = orjson.loads(body)
    new.append(len(body))
    old.append(len(orjson.dumps(v1_shape(record))))
    cells.append(len(record["pnl"]))
    for c in COLUMNS:  # "key":[...] and its comma
        parts[c].append(len(orjson.dumps({c: record[c]})) - 1)
    parts["fixed"].append(len(body) - sum(parts[c][-1] for c in COLUMNS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="stop after the first 5,000 matrices")
    parser.add_argument("--profile", choices=("bench", "kafka-test"), default="bench",
                        help="the sample day to replay (default bench)")
    parser.add_argument("--events", type=int, default=20_000,
                        help="bench profile: this many events (default 20,000; at least "
                             "10,000, the profile's smallest day)")
    args = parser.parse_args()
    if args.events < 10_000:
        parser.error(f"--events {args.events}: the bench profile needs at least 10000")
    n = args.events
    stop = 5_000 if args.quick else None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        size = ["--events", str(n)] if args.profile == "bench" else []
        print(f"generating the {args.profile} profile ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "greekstream.sample", "--profile", args.profile,
                        *size, "--out", str(path)], check=True)
        engine = Engine(EngineConfig())
        new: list[int] = []
        old: list[int] = []
        parts: dict[str, list[int]] = {c: [] for c in (*COLUMNS, "fixed")}
        cells: list[int] = []
        events = 0
        for raw, source in read_records(path):
            if stop is not None and len(new) >= stop:
                break
            events += 1
            for out in engine.handle(raw, source):
                if out.type == "risk_matrix":
                    measure(out, new, old, parts, cells)
    if not new:
        print("no risk matrix emitted", file=sys.stderr)
        return 1
    mean_old, mean_new = statistics.fmean(old), statistics.fmean(new)
    ratio = sum(old) / sum(new)
    print(f"\nrisk_matrix size on the {args.profile} profile: {events:,} events replayed, "
          f"{len(new):,} matrices of {statistics.fmean(cells):.0f} cells (mean)")
    print(f"  v1 list of objects (scenarios)   {mean_old:>8,.0f} bytes per matrix")
    print(f"  columnar (today's event)         {mean_new:>8,.0f} bytes per matrix")
    print(f"  ratio                            {ratio:>8.2f}x smaller   (goal >= {GOAL:.0f}x: "
          f"{'met' if ratio >= GOAL else 'MISSED'})")
    print("  the columnar event's parts, bytes per matrix (mean):")
    for name, sizes in parts.items():
        print(f"    {name:<14} {statistics.fmean(sizes):>8,.0f}")
    pnl = statistics.fmean(parts["pnl"])
    print(f"  bound: the pnl array alone is {pnl:,.0f} bytes; even an event of nothing else "
          f"would be {mean_old / pnl:.2f}x smaller than v1, and 5x needs <= "
          f"{mean_old / GOAL:,.0f} bytes in all")
    goal(f"compact risk_matrix bytes per matrix ({args.profile})", ">= 5x smaller than v1",
         float(mean_new), "bytes", ratio >= GOAL, peer=f"v1 list of objects {mean_old:,.0f} B",
         ratio=ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
