"""Helpers for the Kafka tests: run the real CLI as subprocesses, read committed outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka.admin import AdminClient

from greekstream.core.events import encode
from greekstream.kafka.topics import OUTPUT_ROUTES
from greekstream.runtime.replay import read_records, replay

# every output type the processor routes (risk_matrix included), and its topic suffix
OUTPUT_TYPES = tuple(OUTPUT_ROUTES)
TOPIC_OF = dict(OUTPUT_ROUTES)


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> (
    subprocess.CompletedProcess[str]
):
    return subprocess.run([sys.executable, "-m", "greekstream.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def processor_env(prefix: str, group: str, **extra: str) -> dict[str, str]:
    return {
        "GREEKSTREAM_KAFKA__TOPIC_PREFIX": prefix,
        "GREEKSTREAM_GROUP_ID": group,
        "GREEKSTREAM_SESSION_TIMEOUT_MS": "6000",
        "GREEKSTREAM_BATCH_MAX_EVENTS": "500",
        "GREEKSTREAM_LOG_LEVEL": "INFO",
        **extra,
    }


def start_processor(bootstrap: str, instance: str, env: dict[str, str], log: Path,
                    port: int = 0) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "greekstream.cli", "process", "--bootstrap", bootstrap,
             "--instance", instance, "--port", str(port)],
            stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **env},
        )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    """Signal and wait; one that does not stop in time is killed (so no process outlives
    its test), and the timeout is still raised."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def read_topic(bootstrap: str, topic: str | list[str], timeout_s: float = 30) -> list[tuple[
    bytes | None, bytes, list[Any]
]]:
    """Every committed record of a topic (read_committed), partition by partition, in order;
    of several topics with one consumer, topic by topic."""
    names = [topic] if isinstance(topic, str) else topic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metas = {t: admin.list_topics(t, timeout=10).topics[t] for t in names}
    partitions = [(t, p) for t in names for p in sorted(metas[t].partitions)]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed"})
    consumer.assign([TopicPartition(t, p, 0) for t, p in partitions])
    by_partition: dict[tuple[str, int], list[Any]] = defaultdict(list)
    ended: set[tuple[str, int]] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(ended) < len(partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}: partitions {set(partitions) - ended} "
                                   "did not reach their end")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == RdKafkaError._PARTITION_EOF:
                    ended.add((msg.topic(), msg.partition()))
                continue
            by_partition[(msg.topic(), msg.partition())].append(
                (msg.key(), msg.value(), msg.headers() or []))
    finally:
        consumer.close()
    return [rec for tp in partitions for rec in by_partition[tp]]


def committed_outputs(bootstrap: str, prefix: str) -> dict[str, list[bytes]]:
    topics = {s: read_topic(bootstrap, f"{prefix}.{s}") for s in set(TOPIC_OF.values())}
    # a topic may carry several types (hedge_intent and intent_status share one)
    return {t: [v for _k, v, _h in topics[TOPIC_OF[t]] if orjson.loads(v)["type"] == t]
            for t in OUTPUT_TYPES}


_REPLAYED: dict[tuple[str, int, int], dict[str, list[bytes]]] = {}


def replay_outputs(path: Path) -> dict[str, list[bytes]]:
    """`greekstream replay` of a file, per output type (a file's replay is computed once
    per test session: the engine is deterministic; each caller gets its own lists)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _REPLAYED:
        out: dict[str, list[bytes]] = {t: [] for t in OUTPUT_TYPES}
        for event in replay(read_records(path)).outputs:
            if event.type not in out:
                raise AssertionError(f"replay emitted {event.type!r}, which OUTPUT_ROUTES "
                                     "lacks")
            out[event.type].append(encode(event))
        _REPLAYED[key] = out
    return {kind: list(values) for kind, values in _REPLAYED[key].items()}


def by_book(values: list[bytes]) -> dict[str, list[bytes]]:
    """Records grouped by book, each book's in order: Kafka orders per key, not globally."""
    groups: dict[str, list[bytes]] = defaultdict(list)
    for v in values:
        obj = orjson.loads(v)  # a regime has no book: keyed (ordered) per underlying
        groups[obj.get("book") or f"/{obj.get('underlying', '')}"].append(v)
    return dict(groups)


def wait_for(predicate: Any, timeout_s: float, what: str, every_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(every_s)


def count_committed(bootstrap: str, topic: str) -> int:
    return len(read_topic(bootstrap, topic))


def log_events(log: Path, *events: str) -> list[dict[str, object]]:
    """The processor's JSON log lines of the given ``events`` (of any event when none is
    given), in order; none while the log does not exist yet."""
    if not log.exists():
        return []
    marks = [f'"event":"{event}"' for event in events] or ['"event"']
    return [orjson.loads(line) for line in log.read_text(errors="replace").splitlines()
            if line.startswith("{") and any(mark in line for mark in marks)]


def wait_assigned(log: Path, timeout_s: float = 60) -> None:
    """Until the processor logged a restore with partitions: it consumes as records come."""
    wait_for(lambda: any(e["partitions"] for e in log_events(log, "restored")), timeout_s,
             "the processor to be assigned its partitions", every_s=0.2)
