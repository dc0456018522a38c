"""The Kafka runtime against a real Tansu broker: committed outputs equal `greekstream replay`.

Every test uses its own topic prefix and consumer group, runs the real CLI
(`topics create`, `produce`, `process`) as subprocesses and reads the outputs with a
read_committed consumer. Kafka orders records per key, so outputs are compared per
book, in order, plus as whole multisets (no duplicates, nothing missing).
"""

from __future__ import annotations

import hashlib
import itertools
import signal
import urllib.request
from collections import Counter
from pathlib import Path
from typing import ClassVar

import orjson
import pytest
from confluent_kafka import KafkaException
from kafka_helpers import (
    OUTPUT_TYPES,
    by_book,
    cli,
    committed_outputs,
    log_events,
    processor_env,
    read_topic,
    replay_outputs,
    start_processor,
    stop,
    wait_for,
)
from tests.integration.kafka_broker import free_port

from greekstream.kafka.backoff import Backoff
from greekstream.kafka.checkpoints import CheckpointReader, Progress, Snapshot
from greekstream.kafka.processor import KafkaTxnProducer
from greekstream.kafka.topics import Topics
from greekstream.kafka.transaction import CommitFailed, Transaction
from greekstream.sample.generate import write_sample
from greekstream.settings import ProcessorSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]
_ids = itertools.count()

POISON = [
    b'{"type":"trade","event_id":"poison-1"',  # not JSON
    b'{"type":"swap","event_id":"poison-2","ts":"2026-03-02T00:30:00Z"}',  # unknown type
    b'{"type":"trade","event_id":"poison-3","ts":"2026-03-02T00:30:00Z","book":"desk-a",'
    b'"instrument_id":"BTC-PERP","side":"buy","quantity":-1,"price":1}',  # negative quantity
    b'{"type":"trade","event_id":"poison-4","ts":"2026-03-02T00:30:00Z","book":"desk-a",'
    b'"instrument_id":"NO-SUCH","side":"buy","quantity":1,"price":1}',  # unknown instrument
    b"[1, 2, 3]",  # not an object
    b'{"type":"trade","event_id":"poison-6","ts":"2100-03-02T00:30:00Z","book":"desk-a",'
    b'"instrument_id":"BTC-PERPETUAL","side":"buy","quantity":1,"price":1}',  # a mistyped year
]


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "events.jsonl"
    write_sample(path, "kafka-test", seed=5, show_progress=False)
    return path


@pytest.fixture
def prefix(kafka_bootstrap: str) -> str:
    name = f"t{next(_ids)}x{free_port()}"
    done = cli("topics", "create", "--bootstrap", kafka_bootstrap, "--prefix", name,
               "--partitions", "4", "--market-partitions", "2")
    assert done.returncode == 0, done.stderr
    return name


def produce(bootstrap: str, prefix: str, path: Path, end_of_input: bool = True) -> int:
    """Publish a file; a part that is not the end of the input ends without the gateway's
    closing tick (a file replay of the whole input has no tick in the middle)."""
    env = None if end_of_input else {"GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS": "0"}
    done = cli("produce", str(path), "--bootstrap", bootstrap, "--prefix", prefix, "--quiet",
               env=env)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode


def wait_complete(bootstrap: str, prefix: str, expected: dict[str, list[bytes]],
                  timeout_s: float = 60) -> dict[str, list[bytes]]:
    def complete() -> dict[str, list[bytes]] | None:
        got = committed_outputs(bootstrap, prefix)
        return got if all(len(got[t]) >= len(expected[t]) for t in OUTPUT_TYPES) else None

    return wait_for(complete, timeout_s, "all outputs to be committed")


def assert_same_as_replay(got: dict[str, list[bytes]], expected: dict[str, list[bytes]]) -> None:
    for kind in OUTPUT_TYPES:  # every routed output topic, risk included
        if kind == "rejected":
            continue  # compared by reason and raw record: the source differs (file vs topic)
        assert len(got[kind]) == len(set(got[kind])), f"duplicate {kind} outputs"
        assert Counter(got[kind]) == Counter(expected[kind]), kind
        assert by_book(got[kind]) == by_book(expected[kind]), f"{kind} order within a book"


def test_one_processor_commits_what_replay_outputs(
    kafka_bootstrap: str, prefix: str, stream: Path, tmp_path: Path
) -> None:
    expected = replay_outputs(stream)
    assert len(expected["exposure"]) > 1000 and expected["breach"] and expected["hedge_intent"]
    port = free_port()
    proc = start_processor(kafka_bootstrap, "solo", processor_env(prefix, f"g-{prefix}"),
                           tmp_path / "solo.log", port)
    try:
        assert produce(kafka_bootstrap, prefix, stream) == 0
        got = wait_complete(kafka_bootstrap, prefix, expected)
        assert_same_as_replay(got, expected)
        assert got["rejected"] == []
        ready = orjson.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz").read())
        assert ready["status"] == "ok" and ready["partitions"] == [0, 1, 2, 3]
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        assert 'greekstream_events_out_total{type="exposure"} ' + (
            f"{float(len(expected['exposure']))}") in metrics
        assert "greekstream_quote_to_exposure_seconds_count" in metrics
        lags = [line for line in metrics.splitlines()
                if line.startswith("greekstream_consumer_lag{")]
        assert any(f'topic="{prefix}.trades"' in line for line in lags)
        assert any(f'topic="{prefix}.quotes"' in line for line in lags)
        assert "greekstream_checkpoint_age_seconds " in metrics
    finally:
        assert stop(proc) == 0, (tmp_path / "solo.log").read_text()[-2000:]


def process_poisoned(bootstrap: str, prefix: str, path: Path,
                     expected: dict[str, list[bytes]], tmp_path: Path
                     ) -> tuple[dict[str, list[bytes]], str]:
    """One processor over ``path`` published by the gateway (which rejects some of it):
    its committed outputs, checked against the replay's, and its metrics; the processor
    must stop cleanly."""
    port = free_port()
    proc = start_processor(bootstrap, "solo", processor_env(prefix, f"g-{prefix}"),
                           tmp_path / "solo.log", port)
    try:
        assert produce(bootstrap, prefix, path) == 1  # exit 1: something was rejected
        got = wait_complete(bootstrap, prefix, expected)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    finally:
        assert stop(proc) == 0
    assert_same_as_replay(got, expected)
    return got, metrics


def test_poison_records_go_to_rejected_and_good_events_are_processed(
    kafka_bootstrap: str, prefix: str, stream: Path, tmp_path: Path
) -> None:
    lines = stream.read_bytes().splitlines()
    mid = len(lines) // 2
    path = tmp_path / "poisoned.jsonl"
    path.write_bytes(b"\n".join([*lines[:mid], *POISON, *lines[mid:]]) + b"\n")
    expected = replay_outputs(path)
    assert {orjson.loads(r)["reason"] for r in expected["rejected"]} == {
        "invalid_json", "unknown_type", "invalid_event", "unknown_instrument", "not_an_object",
        "ts_ahead"}
    got, metrics = process_poisoned(kafka_bootstrap, prefix, path, expected, tmp_path)
    # the processor's own rejections (the gateway rejected the other four)
    assert 'greekstream_rejections_total{reason="unknown_instrument"} 1.0' in metrics
    assert 'greekstream_rejections_total{reason="ts_ahead"} 1.0' in metrics
    rejected = [orjson.loads(r) for r in got["rejected"]]
    want = [orjson.loads(r) for r in expected["rejected"]]
    assert sorted((r["reason"], r["raw"]) for r in rejected) == sorted(
        (r["reason"], r["raw"]) for r in want)
    by_reason = {r["reason"]: r for r in rejected}
    line = mid + 1
    assert by_reason["invalid_json"]["source"] == f"{path.name}:{line}"  # gateway: FILE:LINE
    assert by_reason["unknown_instrument"]["source"].startswith(f"{prefix}.trades/")  # processor
    assert all(r["detail"] for r in rejected)


def test_a_poison_record_too_big_for_its_rejection_stops_nothing(
    kafka_bootstrap: str, prefix: str, stream: Path, tmp_path: Path
) -> None:
    """A record whose `rejected` output would be over the 1 MB a Kafka record may have
    (its text is JSON-escaped into ``raw``): one the gateway rejects, one the processor
    rejects; and a valid record over one Kafka record, rejected by the gateway as by the
    replay. Each rejection carries the record clipped (docs/contract.md), and every
    other record is processed; before, the processor stopped with MSG_SIZE_TOO_LARGE
    on such a record, and again after every restart, and the gateway aborted the whole
    publish."""
    quotes = '\\"' * 200_000  # 400 KB of text that is 800 KB once escaped again
    big_trade = ('{"type":"trade","event_id":"big-1","ts":"2026-03-02T00:30:00Z",'
                 '"book":"desk-a","instrument_id":"NO-SUCH","side":"buy","quantity":1,'
                 f'"price":1,"note":"{quotes}{quotes}"}}').encode()
    big_junk = b'{"type":"trade","note":"' + b'"' * 700_000  # not JSON: the gateway's
    big_valid = (b'{"type":"trade","event_id":"big-2","ts":"2026-03-02T00:30:00Z",'
                 b'"book":"desk-a","instrument_id":"BTC-PERP","side":"buy","quantity":1,'
                 b'"price":1,"note":"' + b"y" * 1_100_000 + b'"}')  # over one Kafka record
    lines = stream.read_bytes().splitlines()
    mid = len(lines) // 2
    path = tmp_path / "poisoned.jsonl"
    path.write_bytes(b"\n".join([*lines[:mid], big_trade, big_junk, big_valid,
                                 *lines[mid:]]) + b"\n")
    expected = replay_outputs(path)
    assert sorted(orjson.loads(r)["reason"] for r in expected["rejected"]) == [
        "invalid_event", "invalid_json", "unknown_instrument"]
    got, _ = process_poisoned(kafka_bootstrap, prefix, path, expected, tmp_path)
    for raw_record in got["rejected"]:
        assert len(raw_record) < 1_000_000
        rejected = orjson.loads(raw_record)
        assert "... [clipped: " in rejected["raw"] and "sha256 " in rejected["raw"]


def split_keeping_lines(path: Path, at: int, folder: Path) -> tuple[Path, Path]:
    """Two files whose line numbers (the gateway's gs-seq) are those of the original."""
    lines = path.read_bytes().splitlines()
    first, second = folder / "part1.jsonl", folder / "part2.jsonl"
    first.write_bytes(b"\n".join(lines[:at]) + b"\n")
    second.write_bytes(b"\n" * at + b"\n".join(lines[at:]) + b"\n")
    return first, second


def test_sigkill_of_one_of_two_processors_loses_and_doubles_nothing(
    kafka_bootstrap: str, prefix: str, stream: Path, tmp_path: Path
) -> None:
    expected = replay_outputs(stream)
    env = processor_env(prefix, f"g-{prefix}", GREEKSTREAM_CHECKPOINT_INTERVAL_S="1")
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    first, second = split_keeping_lines(stream, len(stream.read_bytes().splitlines()) // 2,
                                        tmp_path)
    a = start_processor(kafka_bootstrap, "a", env, log_a)
    b = start_processor(kafka_bootstrap, "b", env, log_b)
    try:
        wait_for(lambda: any(e["partitions"] for e in log_events(log_a, "restored"))
                 and any(e["partitions"] for e in log_events(log_b, "restored")), 60,
                 "both instances to own partitions")
        produce(kafka_bootstrap, prefix, first, end_of_input=False)
        topic = f"{prefix}.exposures"
        wait_for(lambda: len(read_topic(kafka_bootstrap, topic)) > 100, 60, "some outputs")
        a.send_signal(signal.SIGKILL)  # mid-stream: no final commit, no checkpoint
        a.wait(10)
        produce(kafka_bootstrap, prefix, second)
        a = start_processor(kafka_bootstrap, "a", env, log_a)
        got = wait_complete(kafka_bootstrap, prefix, expected, timeout_s=90)
        assert_same_as_replay(got, expected)
        restored_a = log_events(log_a, "restored")
        assert restored_a[-1]["partitions"], "the restarted instance got partitions back"
    finally:
        stop(b)
        stop(a)


@pytest.mark.parametrize("chunk_bytes", [None, 1024], ids=["whole", "chunked"])
def test_restart_recovers_from_the_checkpoint_not_from_history(
    kafka_bootstrap: str, prefix: str, stream: Path, tmp_path: Path, chunk_bytes: int | None
) -> None:
    """Also with each snapshot written as chunks (checkpoint_chunk_bytes; a `market`-sized
    desk's snapshot is several MB, over the 1 MB a record may have): the restart reads
    them back whole."""
    expected = replay_outputs(stream)
    chunking = {} if chunk_bytes is None else {
        "GREEKSTREAM_CHECKPOINT_CHUNK_BYTES": str(chunk_bytes)}
    env = processor_env(prefix, f"g-{prefix}", GREEKSTREAM_CHECKPOINT_INTERVAL_S="1",
                        **chunking)
    log, port = tmp_path / "p.log", free_port()
    proc = start_processor(kafka_bootstrap, "p", env, log)
    try:
        produce(kafka_bootstrap, prefix, stream)
        wait_complete(kafka_bootstrap, prefix, expected)
        wait_for(lambda: log_events(log, "checkpoint"), 30, "a checkpoint")
    finally:
        stop(proc, signal.SIGKILL)
    proc = start_processor(kafka_bootstrap, "p", env, log, port)
    try:
        restored = wait_for(lambda: [e for e in log_events(log, "restored") if e["partitions"]][1:],
                            60, "the restart to restore")[-1]
        ready = orjson.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz").read())
        got = committed_outputs(kafka_bootstrap, prefix)
    finally:
        stop(proc)
    n_inputs = len(stream.read_bytes().splitlines())
    keys = [k for k, _, _ in read_topic(kafka_bootstrap, f"{prefix}.checkpoints")]
    chunks = [k for k in keys if k is not None and k.startswith(b"snapshot/")]
    if chunk_bytes is None:
        assert not chunks and b"snapshot" in keys
        # per partition: the tail (the last progress is within its last 16 records) + the
        # snapshot it names; the time it takes is measured in bench/bench_kafka.py
        assert restored["checkpoint_records_read"] <= 4 * 17
    else:
        assert chunks  # the day's snapshots are over 1 KiB (an early one may fit in one)
        n_last = 1 + max(int(k.split(b"/")[1]) for k in chunks)
        assert n_last >= 2
        assert restored["checkpoint_records_read"] <= 4 * (16 + n_last)
    assert ready["applied"] < n_inputs // 10, "recovery re-read history instead of the checkpoint"
    assert_same_as_replay(got, expected)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sigterm_commits_the_batch_in_flight_and_a_restart_resumes_there(
    kafka_bootstrap: str, prefix: str, stream: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    """A pod's stop (SIGTERM) and Ctrl-C at a terminal are the same graceful stop."""
    expected = replay_outputs(stream)
    env = processor_env(prefix, f"g-{prefix}", GREEKSTREAM_CHECKPOINT_INTERVAL_S="600")
    log = tmp_path / "p.log"
    first, second = split_keeping_lines(stream, len(stream.read_bytes().splitlines()) * 2 // 3,
                                        tmp_path)
    proc = start_processor(kafka_bootstrap, "p", env, log)
    try:
        produce(kafka_bootstrap, prefix, first, end_of_input=False)
        wait_for(lambda: len(read_topic(kafka_bootstrap, f"{prefix}.exposures")) > 100, 60,
                 "some outputs")
    finally:
        assert stop(proc, sig) == 0, log.read_text()[-2000:]  # likely mid-batch
    assert [e["signal"] for e in log_events(log, "stopping")] == [sig.name]
    stopped = log_events(log, "stopped")[-1]
    position = stopped["position"]
    assert position is not None
    # the final checkpoint is at the stop position: nothing applied was left uncommitted
    assert log_events(log, "checkpoint")[-1]["position"] == position
    partial = committed_outputs(kafka_bootstrap, prefix)
    assert 0 < len(partial["exposure"]) < len(expected["exposure"]), "stopped mid-stream"
    for kind in ("exposure", "risk_matrix"):
        want = by_book(expected[kind])
        for book, values in by_book(partial[kind]).items():
            assert values == want[book][:len(values)], f"{kind} of {book}: not a prefix"
    produce(kafka_bootstrap, prefix, second)
    proc = start_processor(kafka_bootstrap, "p", env, log)
    try:
        restored = wait_for(lambda: log_events(log, "restored")[1:], 60, "the restart")[-1]
        got = wait_complete(kafka_bootstrap, prefix, expected)
    finally:
        assert stop(proc) == 0
    assert restored["position"] == position  # resumes at the stop: re-applies nothing
    assert_same_as_replay(got, expected)


_OPEN_TXN_CHILD = r'''
import os, sys, orjson
from confluent_kafka import Producer
bootstrap, topic, txn_id = sys.argv[1:4]
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 1})
p.init_transactions(30)
p.begin_transaction()
p.produce(topic, value=b'{"type":"exposure","book":"killed-owner"}', key=b"killed-owner",
          partition=0, headers=[("gs-part", b"0"), ("gs-pos", orjson.dumps([7, 0, 0, 0]))])
p.flush(10)
os._exit(0)  # SIGKILL-like: the transaction stays open, neither committed nor aborted
'''


def test_a_killed_owners_open_transaction_ends_before_recovery_looks_for_its_outputs(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    """A killed owner's open transaction holds outputs and no progress yet. Tansu shows
    them once the transaction is aborted, so recovery must wait for it to end before it
    scans the outputs for ones already visible; otherwise it produces them again (the
    duplicates the two-instance crash test found about once in 16 runs)."""
    import subprocess
    import sys
    import threading

    from confluent_kafka import Producer

    topic, txn_id = f"{prefix}.exposures", f"killed-{prefix}"
    subprocess.run([sys.executable, "-c", _OPEN_TXN_CHILD, kafka_bootstrap, topic, txn_id],
                   check=True, timeout=60)
    assert read_topic(kafka_bootstrap, topic) == [], "the open transaction is hidden"

    log = tmp_path / "p.log"

    def fence_later() -> None:
        # once recovery says it waits (or, if it does not, after the restore), the killed
        # owner restarts: its init_transactions aborts the open transaction
        try:
            wait_for(lambda: log_events(log, "output_wait") or log_events(log, "restored"),
                     60, "recovery to wait or restore", every_s=0.2)
        finally:
            Producer({"bootstrap.servers": kafka_bootstrap,
                      "transactional.id": txn_id}).init_transactions(30)

    fencer = threading.Thread(target=fence_later)
    proc = start_processor(kafka_bootstrap, "p", processor_env(prefix, f"g-{prefix}"), log)
    fencer.start()
    try:
        restored = wait_for(lambda: [e for e in log_events(log, "restored") if e["partitions"]],
                            60, "the processor to restore")[0]
    finally:
        fencer.join()
        stop(proc)
    assert 0 in restored["partitions"]
    waits = log_events(log, "output_wait")
    assert waits and waits[0]["partitions"] == [f"{topic}/0"], "recovery did not wait"
    assert restored["seconds"] >= 5.0, restored
    # the aborted output, shown by Tansu, was found: it will not be produced again
    assert restored["visible_uncommitted"] == 1, restored


def test_a_checkpoint_transaction_the_broker_never_ends_is_reported_after_its_timeout(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    """Tansu never times a transaction out: a killed owner's transaction left open on a
    checkpoint partition was waited for forever, with a warning every 5 s. The wait now
    ends at the transaction timeout (1 s here) + 15 s with an error in the JSON log that
    names the partition and what to do; the restore is retried, and reads the checkpoints
    only once the transaction is fenced."""
    import subprocess
    import sys

    from confluent_kafka import Producer

    checkpoints, txn_id = Topics(prefix).checkpoints, f"killed-{prefix}"
    subprocess.run([sys.executable, "-c", _OPEN_TXN_CHILD, kafka_bootstrap, checkpoints,
                    txn_id], check=True, timeout=60)
    log = tmp_path / "p.log"
    env = processor_env(prefix, f"g-{prefix}", GREEKSTREAM_TRANSACTION_TIMEOUT_MS="1000")
    proc = start_processor(kafka_bootstrap, "p", env, log)
    try:
        def still_open() -> list[dict[str, object]]:
            return [e for e in log_events(log, "broker_trouble")
                    if f"checkpoint partitions [0] of {checkpoints}" in str(e["msg"])]

        trouble = wait_for(still_open, 90, "the wait to reach its limit", every_s=0.2)[0]
        assert not log_events(log, "restored"), "restored past an open transaction"
        waits = log_events(log, "checkpoint_wait")
        assert waits and waits[0]["partitions"] == [0]
        text = str(trouble["msg"])
        assert "transaction_timeout_ms 1000" in text and "check the broker" in text, text
        assert 16 <= int(text.split("open on them for ")[1].split(" s")[0]) <= 25, text
        Producer({"bootstrap.servers": kafka_bootstrap,
                  "transactional.id": txn_id}).init_transactions(30)  # the owner returns
        restored = wait_for(lambda: [e for e in log_events(log, "restored")
                                     if e["partitions"]], 60, "the processor to restore")[0]
        assert 0 in restored["partitions"]
    finally:
        assert stop(proc) == 0


class _BigState:
    """An epoch as a checkpoint sees it (kafka/epoch.py: owned, pos, snapshots,
    snapshots_written, progress, committed_offsets), holding a `market`-sized state: 3.5 MB of books
    per partition (the `market` sample's snapshot is 8.7 MB)."""

    owned: ClassVar[list[int]] = [0, 1]
    pos = (1, 0, 0, 7)

    def __init__(self) -> None:
        seed = hashlib.sha256(b"market-sized").hexdigest().encode()
        self.books = {p: b"".join(hashlib.sha256(seed + b"%d/%d" % (p, i)).hexdigest().encode()
                                  for i in range(55_000)) for p in self.owned}
        self.offsets: dict[int, int] = {}

    def snapshots(self) -> dict[int, Snapshot]:
        return {p: Snapshot(pos=(p, 0, 0, 7), book_offsets={}, market_offsets={},
                            books=[f"desk-{p}"], market_state=b'{"market":1}',
                            books_state=self.books[p]) for p in self.owned}

    def snapshots_written(self, offsets: dict[int, int]) -> None:
        self.offsets.update(offsets)

    def progress(self, partition: int, out_floor: dict[str, int]) -> Progress:
        return Progress((partition, 0, 0, 7), self.offsets.get(partition), out_floor)

    def committed_offsets(self) -> list[tuple[str, int, int]]:
        return []


def test_a_market_sized_checkpoint_passes_the_broker_at_the_default_chunk_size(
        kafka_bootstrap: str, prefix: str) -> None:
    """The shipped checkpoint_chunk_bytes against the broker's own record limit: written
    whole, a 3.5 MB partition snapshot is refused (MSG_SIZE_TOO_LARGE: librdkafka's
    message.max.bytes, 1 MB like the broker's; it stopped the processor on a
    `market`-sized desk); written as the default's chunks, it commits in
    one transaction and recovery reads back each partition's snapshot, byte for byte."""
    state = _BigState()
    topics = Topics(prefix)

    def commit(settings: ProcessorSettings, tid: str) -> None:
        producer = KafkaTxnProducer({"bootstrap.servers": kafka_bootstrap,
                                     "transactional.id": tid}, lambda: None,
                                    lambda s: Backoff(s, 1.0), lambda _t: None)
        producer.init()
        txn = Transaction(producer, topics, settings)
        try:
            txn.commit(state, checkpoint=True, out_floor={})  # type: ignore[arg-type]
        finally:
            txn.abort()

    default = ProcessorSettings()
    # (the setting refuses a chunk over 900,000 bytes: the copy skips that check)
    whole = default.model_copy(update={"checkpoint_chunk_bytes": 16 * 1024 * 1024})
    with pytest.raises(CommitFailed, match="MSG_SIZE_TOO_LARGE") as refused:
        commit(whole, f"{prefix}-whole")
    assert isinstance(refused.value.cause, KafkaException)  # the broker's, not ours
    assert default.checkpoint_chunk_bytes < len(state.books[0]) // 6
    commit(default, f"{prefix}-chunked")
    reader = CheckpointReader({"bootstrap.servers": kafka_bootstrap}, topics.checkpoints)
    try:
        got = reader.latest_many(state.owned,
                                 transaction_timeout_ms=default.transaction_timeout_ms)
    finally:
        reader.close()
    want = state.snapshots()
    for p in state.owned:
        assert got[p].snapshot == want[p]
        assert got[p].progress == Progress((p, 0, 0, 7), state.offsets[p], {})
