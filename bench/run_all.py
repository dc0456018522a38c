"""Run every bench/bench_*.py in turn, each in its own process, and say how each went.

    .venv/bin/python bench/run_all.py [--quick] [NAME ...]

NAME picks benches by name (``greeks`` or ``bench_greeks``); none means all of them.
``--quick`` is passed on to each bench (``make bench ARGS=--quick``). Each bench prints
its own table; this adds a header before it, a one-line summary per bench, and the goal
table of issue 12: every ``GOAL|...`` line the benches printed (bench/goals.py), plus
the issue's goals no bench reported. Exits 1 if any bench failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from goals import parse

HERE = Path(__file__).resolve().parent


def discover(names: list[str]) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if not names:
        return found
    wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in names}
    unknown = wanted - {p.stem for p in found}
    if unknown:
        raise SystemExit(f"no such bench: {', '.join(sorted(unknown))} "
                         f"(have: {', '.join(p.stem for p in found)})")
    return [p for p in found if p.stem in wanted]


# The goals of issue 12, in its order: (figure prefix a bench's GOAL line starts with,
# the goal as the issue states it). A bench that reports one prints its GOAL line.
ISSUE_GOALS = (
    ("engine decode + apply on market", ">= 500,000 events/s, >= 0.5x bare orjson.loads"),
    ("engine on bench, emit_interval_ms 0", ">= 50,000 events/s (12x today)"),
    ("exactly-once processor end to end", ">= 100,000 events/s, >= 0.75x bare txn loop"),
    ("quote produced -> exposure committed", "p99 <= emit_interval_ms + 50 ms at 10k/s"),
    ("restart -> caught up", "< 5 s with 1M events of history"),
    ("replay --out of 1M market events", "RSS < 500 MB; wall <= 1.5x engine-only"),
    ("history sink end to end", ">= 0.75x ClickHouse's own JSONEachRow insert"),
    ("decode + validate hot inputs", ">= 1,000,000 records/s on one core"),
    ("compact risk_matrix bytes per matrix", ">= 5x smaller than v1 (item 5)"),
)


def run_one(path: Path, quick: bool, goals: list[dict[str, str]]) -> tuple[int, float]:
    """Run one bench, echoing its output as it comes; its GOAL lines go to ``goals``."""
    print(f"\n{'=' * 100}\n== {path.stem}{' (--quick)' if quick else ''}\n{'=' * 100}",
          flush=True)
    started = time.perf_counter()
    with subprocess.Popen([sys.executable, str(path), *(["--quick"] if quick else [])],
                          stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            row = parse(line)
            if row is not None:
                goals.append({**row, "bench": path.stem})
    return proc.returncode, time.perf_counter() - started


def goal_table(goals: list[dict[str, str]]) -> list[str]:
    """The issue's goal table: measured rows first (in the issue's order), then the goals
    no bench reported."""
    def order(row: dict[str, str]) -> int:
        for i, (prefix, _) in enumerate(ISSUE_GOALS):
            if row["figure"].startswith(prefix):
                return i
        return len(ISSUE_GOALS)

    head = ("figure", "goal", "measured", "peer (same run)", "ratio", "met")
    rows = [(g["figure"], g["goal"], f"{g['measured']} {g['unit']}", g["peer"] or "-",
             g["ratio"] or "-", g["met"]) for g in sorted(goals, key=order)]
    reported = {order(g) for g in goals}
    rows += [(figure, target, "not reported by a bench", "-", "-", "n/a")
             for i, (figure, target) in enumerate(ISSUE_GOALS) if i not in reported]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*head), fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*r) for r in rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every bench")
    parser.add_argument("names", nargs="*", help="benches to run (default: all)")
    args = parser.parse_args(argv)
    goals: list[dict[str, str]] = []
    results = [(path, *run_one(path, args.quick, goals)) for path in discover(args.names)]
    print(f"\n{'=' * 100}\n== summary")
    for path, code, seconds in results:
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"  {path.stem:<24} {status:<18} {seconds:7.1f} s")
    print(f"\n== goals (issue 12){' --quick sizes' if args.quick else ''}")
    for line in goal_table(goals):
        print("  " + line)
    return 1 if any(code for _, code, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
