"""Restart -> caught up, with and without static group membership (issue 11).

    .venv/bin/python bench/bench_restart.py [--kills 3]
    .venv/bin/python bench/bench_restart.py --quick     # one kill per setting

One Tansu broker, one processor with the shipped defaults (session timeout 10 s,
checkpoint every 10 s) on a small stream; each round SIGKILLs it mid-stream and starts
it again at once, timing process start -> `restored` and -> `caught_up` (past the
progress its predecessor committed), with `GREEKSTREAM_STATIC_MEMBERSHIP` false and true.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_kafka import free_port, log_events, start_tansu, wait
from greekstream.sample.generate import write_sample


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "greekstream.cli", *args], check=True,
                   capture_output=True)


def start(bootstrap: str, prefix: str, log: Path, static: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GREEKSTREAM_KAFKA__TOPIC_PREFIX": prefix,
           "GREEKSTREAM_GROUP_ID": f"g-{prefix}", "GREEKSTREAM_LOG_LEVEL": "INFO",
           "GREEKSTREAM_STATIC_MEMBERSHIP": str(static).lower()}
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "greekstream.cli", "process", "--bootstrap", bootstrap,
             "--instance", "bench", "--port", "0"], stdout=handle, stderr=subprocess.STDOUT,
            env=env)


def rounds(bootstrap: str, folder: Path, stream: Path, static: bool, kills: int) -> list[
    tuple[float, float]
]:
    prefix = f"r{int(static)}x{free_port()}"
    cli("topics", "create", "--bootstrap", bootstrap, "--prefix", prefix)
    log = folder / f"{prefix}.log"
    proc = start(bootstrap, prefix, log, static)
    try:
        cli("produce", str(stream), "--bootstrap", bootstrap, "--prefix", prefix, "--quiet")
        wait(lambda: log_events(log, "caught_up"), 120, "the first start")
        out = []
        for _ in range(kills):
            time.sleep(2.0)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            restored = len(log_events(log, "restored"))
            caught = len(log_events(log, "caught_up"))
            spawned = time.monotonic()
            proc = start(bootstrap, prefix, log, static)
            wait(lambda n=restored: log_events(log, "restored")[n:], 120, "restored")
            to_restored = time.monotonic() - spawned
            wait(lambda n=caught: log_events(log, "caught_up")[n:], 120, "caught up")
            out.append((to_restored, time.monotonic() - spawned))
    except BaseException:  # a wait that gives up: no processor outlives the bench
        proc.kill()
        proc.wait(10)
        raise
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, help="kills per setting (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="one kill per setting (make bench ARGS=--quick passes it)")
    args = parser.parse_args()
    kills = args.kills or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker, bootstrap = start_tansu(folder / "tansu.log")
        try:
            full = folder / "day.jsonl"
            write_sample(full, "kafka-test", seed=5, show_progress=False)
            stream = folder / "small.jsonl"
            stream.write_bytes(b"\n".join(full.read_bytes().splitlines()[:800]) + b"\n")
            for static in (False, True):
                got = rounds(bootstrap, folder, stream, static, kills)
                rs = [f"{a:.1f}" for a, _ in got]
                cs = [f"{b:.1f}" for _, b in got]
                print(f"static_membership={str(static).lower():<5} start->restored "
                      f"{', '.join(rs)} s; start->caught_up {', '.join(cs)} s "
                      f"(median {statistics.median(b for _, b in got):.1f} s)")
        finally:
            broker.terminate()
            broker.wait(10)


if __name__ == "__main__":
    main()
