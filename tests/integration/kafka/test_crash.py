"""Randomized SIGKILLs with the shipped defaults (checkpoint every 10 s, default batch,
session timeout, static membership): the committed outputs equal replay's as multisets,
with no dedup on the reading side — 0 lost, 0 extra, on every output topic.

Each run prints its seed (`crash seed=...`); replay a failure with
GREEKSTREAM_CRASH_SEED=<seed>. The kills land before the first checkpoint, while an
instance restores or re-applies up to its committed progress, and mid-stream (the
processor is inside a transaction whenever it has records to apply).
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from kafka_helpers import (
    OUTPUT_TYPES,
    cli,
    committed_outputs,
    log_events,
    replay_outputs,
    start_processor,
    stop,
    wait_for,
)
from tests.integration.kafka_broker import free_port

from greekstream.sample.generate import write_sample

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]
_ids = itertools.count()
STREAM_LINES = 1_400  # small: the whole suite stays a few minutes on 2 cores


@pytest.fixture(scope="module")
def small_stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash")
    full = folder / "day.jsonl"
    write_sample(full, "kafka-test", seed=5, show_progress=False)
    path = folder / "small.jsonl"
    path.write_bytes(b"\n".join(full.read_bytes().splitlines()[:STREAM_LINES]) + b"\n")
    return path


def shipped_defaults_env(prefix: str) -> dict[str, str]:
    """Only what names the deployment; every tuning setting is the shipped default."""
    return {"GREEKSTREAM_KAFKA__TOPIC_PREFIX": prefix, "GREEKSTREAM_GROUP_ID": f"g-{prefix}",
            "GREEKSTREAM_LOG_LEVEL": "INFO"}


def count(log: Path, event: str) -> int:
    return log.read_text(errors="replace").count(f'"event":"{event}"') if log.exists() else 0


def wait_count(log: Path, event: str, before: int, timeout_s: float = 60) -> None:
    """Until the current incarnation logs ``event`` (more than ``before`` in the log)."""
    deadline = time.monotonic() + timeout_s
    while count(log, event) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{log.name}: no {event} within {timeout_s} s")
        time.sleep(0.05)


def phase_of(logs: list[Path], log: Path) -> str:
    """What the instance about to be killed is doing, from the logs (best effort)."""
    if not any(log_events(lg, "checkpoint") for lg in logs):
        first = "before-first-checkpoint"
    else:
        first = "after-checkpoint"
    events = [e["event"] for e in log_events(log, "started", "restored", "caught_up",
                                                  "stopped")]
    tail = events[-1] if events else "starting"
    if tail in ("started", "starting"):
        return f"{first}/starting"
    if tail == "restored":
        return f"{first}/restoring"  # re-applying up to the committed progress
    return f"{first}/running"


def split(path: Path, folder: Path, parts: int) -> list[Path]:
    """Files keeping the original line numbers (the gateway's gs-seq)."""
    lines = path.read_bytes().splitlines()
    out, size = [], -(-len(lines) // parts)
    for i in range(parts):
        p = folder / f"part{i}.jsonl"
        p.write_bytes(b"\n" * (i * size) + b"\n".join(lines[i * size:(i + 1) * size]) + b"\n")
        out.append(p)
    return out


def run_with_kills(bootstrap: str, stream: Path, folder: Path, instances: int,
                   kills: int) -> None:
    seed = int(os.environ.get("GREEKSTREAM_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash seed={seed} instances={instances} kills={kills}")
    rng = random.Random(seed)
    prefix = f"c{next(_ids)}x{free_port()}"
    done = cli("topics", "create", "--bootstrap", bootstrap, "--prefix", prefix,
               "--partitions", "4", "--market-partitions", "2")
    assert done.returncode == 0, done.stderr
    expected = replay_outputs(stream)
    env = shipped_defaults_env(prefix)
    names = [f"i{k}" for k in range(instances)]
    logs = {n: folder / f"{n}.log" for n in names}
    parts = split(stream, folder, 8)
    gateway: list[subprocess.CompletedProcess[str]] = []

    def publish() -> None:  # one part after another (gs-seq order), while the kills go on
        for i, part in enumerate(parts):
            # one input: only its end is a gateway tick (closing the emission window as
            # the end of a file replay does), not the end of every part
            last = i == len(parts) - 1
            gateway.append(cli("produce", str(part), "--bootstrap", bootstrap,
                               "--prefix", prefix, "--quiet",
                               env=None if last else {"GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS": "0"}))
            time.sleep(rng_gateway.uniform(0.0, 2.0))

    rng_gateway = random.Random(seed + 1)
    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    history: list[str] = []
    starts = dict.fromkeys(names, 0)  # log lines seen before the current incarnation
    restores = dict.fromkeys(names, 0)
    caught = dict.fromkeys(names, 0)
    try:
        for n in names:
            procs[n] = start_processor(bootstrap, n, env, logs[n])
            time.sleep(rng.uniform(0.5, 3.0))  # the second joins mid-stream: a rebalance
        for k in range(kills):
            victim = rng.choice(names)
            # where in its life the victim dies: while joining and restoring, right after
            # the restore (re-applying up to the committed progress), mid-stream (inside a
            # transaction), or after a checkpoint (every 10 s)
            when = rng.choice(["joining", "restored", "running", "running", "checkpointed"])
            wait_count(logs[victim], "started", starts[victim])
            if when == "joining":
                time.sleep(rng.uniform(0.0, 1.5))
            else:
                wait_count(logs[victim], "restored", restores[victim])
                if when == "running":
                    time.sleep(rng.uniform(0.2, 4.0))
                elif when == "checkpointed":
                    time.sleep(rng.uniform(10.5, 12.5))
            phase = phase_of(list(logs.values()), logs[victim])
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(10)
            history.append(f"{k}:{victim}:{when}:{phase}")
            starts[victim] = count(logs[victim], "started")
            caught[victim] = count(logs[victim], "caught_up")
            restores[victim] = count(logs[victim], "restored")
            procs[victim] = start_processor(bootstrap, victim, env, logs[victim])
        print("kills:", " ".join(history))
        publisher.join(120)
        assert len(gateway) == len(parts) and all(g.returncode == 0 for g in gateway), [
            g.stderr for g in gateway]
        for n in names:  # every incarnation alive now is past its predecessor's progress
            wait_count(logs[n], "caught_up", caught[n], 90)

        def complete() -> dict[str, list[bytes]] | None:
            got = committed_outputs(bootstrap, prefix)
            return got if all(len(got[t]) >= len(expected[t]) for t in OUTPUT_TYPES) else None

        wait_for(complete, 150, f"all outputs (seed {seed})", every_s=2)
    finally:
        codes = {n: stop(p) for n, p in procs.items()}  # SIGTERM: final commit
    got = committed_outputs(bootstrap, prefix)
    assert codes == dict.fromkeys(names, 0), f"seed {seed}: exit codes {codes}"
    for kind in OUTPUT_TYPES:
        if kind == "rejected":  # the source differs (file vs topic): compare the rest
            want = Counter((r["reason"], r["raw"]) for r in map(orjson.loads, expected[kind]))
            have = Counter((r["reason"], r["raw"]) for r in map(orjson.loads, got[kind]))
        else:
            want, have = Counter(expected[kind]), Counter(got[kind])
        lost, extra = want - have, have - want
        assert not lost and not extra, (
            f"seed {seed} ({' '.join(history)}): {kind}: {sum(lost.values())} lost, "
            f"{sum(extra.values())} extra")


def test_random_sigkills_one_instance(kafka_bootstrap: str, small_stream: Path,
                                      tmp_path: Path) -> None:
    run_with_kills(kafka_bootstrap, small_stream, tmp_path, instances=1, kills=10)


def test_random_sigkills_two_instances(kafka_bootstrap: str, small_stream: Path,
                                       tmp_path: Path) -> None:
    run_with_kills(kafka_bootstrap, small_stream, tmp_path, instances=2, kills=10)
