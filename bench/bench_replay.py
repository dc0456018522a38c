"""`greekstream replay --out` on the `market` profile: peak memory and wall time against the
engine alone, same file, same run.

    .venv/bin/python bench/bench_replay.py             # 1,000,000 market events
    .venv/bin/python bench/bench_replay.py --quick     # 80,000 (the opening + a few seconds)
    .venv/bin/python bench/bench_replay.py --events N

Each figure runs in its own process (peak RSS from ``wait4``):
  engine only      decode + apply every record, outputs counted and dropped
  replay --out     the CLI as shipped: every output written to DIR as it is produced
  orjson.loads     a bare parse of every line (a floor, for scale)
The rate is printed per 10% of the file, so a rate that falls over a long file shows.
Goal (issue 12): replay --out of 1M market events with RSS < 500 MB and wall time within
1.5x of the engine-only figure (a shorter file's GOAL lines say n/a: it does not show that
RSS stays flat). Wall times are of whole processes, interpreter start included.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goals import goal

RSS_GOAL_MB = 500.0
WALL_RATIO_GOAL = 1.5
GOAL_EVENTS = 1_000_000  # the goal's file: below it the verdict is n/a

# The same work as `greekstream replay` but the writing: its engine settings (the
# GREEKSTREAM_ENGINE__* environment) and its garbage collector (cli.main tunes it; the
# default thresholds cost the engine up to a fifth of its time on `market`).
ENGINE_ONLY = """
import sys, time
from greekstream.runtime import collector
from greekstream.runtime.replay import read_records, replay, count_lines
from greekstream.runtime.scenario_files import engine_config_from_env
collector.tune()
config = engine_config_from_env()
path = sys.argv[1]
total = count_lines(path)
marks = {total * k // 10 for k in range(1, 11)}
started = last = time.perf_counter()
seen = 0

def records():
    global seen, last
    for record in read_records(path):
        seen += 1
        if seen in marks:
            now = time.perf_counter()
            print(f"  {seen:>10,} events  {total // 10 / (now - last):>10,.0f} events/s",
                  file=sys.stderr, flush=True)
            last = now
        yield record

result = replay(records(), config=config, keep_outputs=False)
print(sum(result.counts.values()))
"""

ORJSON = """
import sys, orjson
with open(sys.argv[1], "rb") as f:
    for line in f:
        orjson.loads(line)
"""


def measure(cmd: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, float,
                                                                             str]:
    """(wall seconds, peak RSS MB, stdout) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if stdout is None else stdout,
                            text=True)
    out = proc.stdout.read() if proc.stdout is not None else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024.0, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="80,000 events instead of 1M")
    parser.add_argument("--events", type=int, help="this many events (overrides --quick)")
    args = parser.parse_args(argv)
    n = args.events or (80_000 if args.quick else 1_000_000)
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="gs-bench-replay-") as tmp:
        path = Path(tmp) / "market.jsonl"
        print(f"generating {n:,} market events ...", file=sys.stderr, flush=True)
        subprocess.run([py, "-m", "greekstream.sample", "--profile", "market", "--events",
                        str(n), "--out", str(path)], check=True)
        lines = sum(1 for _ in path.open("rb"))
        print("orjson.loads over the file ...", file=sys.stderr, flush=True)
        parse_s, parse_mb, _ = measure([py, "-c", ORJSON, str(path)])
        print("engine only (rate per 10% of the file) ...", file=sys.stderr, flush=True)
        engine_s, engine_mb, outputs = measure([py, "-c", ENGINE_ONLY, str(path)], None)
        print("replay --out ...", file=sys.stderr, flush=True)
        out_dir = Path(tmp) / "out"
        replay_s, replay_mb, _ = measure([py, "-m", "greekstream.cli", "replay", str(path),
                                          "--out", str(out_dir), "--quiet"])
        written = sum(p.stat().st_size for p in out_dir.iterdir()) / 1e6
    ratio = replay_s / engine_s
    print(f"\nreplay of {lines:,} market events ({int(outputs):,} outputs), each in its own "
          "process")
    print(f"{'figure':<34} {'wall s':>9} {'events/s':>11} {'peak RSS MB':>12}")
    for label, seconds, mb in (("orjson.loads (floor)", parse_s, parse_mb),
                               ("engine only (decode + apply)", engine_s, engine_mb),
                               ("replay --out (as shipped)", replay_s, replay_mb)):
        print(f"{label:<34} {seconds:>9.1f} {lines / seconds:>11,.0f} {mb:>12,.0f}")
    print(f"replay --out wrote {written:,.0f} MB; wall {ratio:.2f}x the engine alone "
          f"(goal <= {WALL_RATIO_GOAL}x), RSS {replay_mb:,.0f} MB (goal < {RSS_GOAL_MB:.0f})")
    report_goals(lines, replay_mb, replay_s, engine_s)
    return 0


def report_goals(lines: int, replay_mb: float, replay_s: float, engine_s: float) -> None:
    """The two GOAL lines. The goal is stated for 1M events: on a shorter file (--quick,
    --events) a flat RSS and a steady rate are not shown, so the verdict is n/a, not met."""
    full = lines >= GOAL_EVENTS
    ratio = replay_s / engine_s
    goal(f"replay --out of 1M market events (here {lines:,}): peak RSS",
         f"< {RSS_GOAL_MB:.0f} MB", replay_mb, "MB",
         replay_mb < RSS_GOAL_MB if full else None)
    goal(f"replay --out of 1M market events (here {lines:,}): wall vs engine only",
         f"<= {WALL_RATIO_GOAL}x engine only", replay_s, "s",
         ratio <= WALL_RATIO_GOAL if full else None, "engine only, same file", ratio)


if __name__ == "__main__":
    sys.exit(main())
