"""The Kafka → ClickHouse sink against a real Tansu broker and real chDB:
idempotence under redelivery, and a ClickHouse outage in the middle of a stream."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from pydantic import SecretStr

from greekstream.core.events import encode
from greekstream.errors import HistoryError
from greekstream.history import connect
from greekstream.history import sink as sink_module
from greekstream.history.sink import Sink, topic_names
from greekstream.kafka.ops import serve_ops
from greekstream.kafka.topics import OUTPUT_ROUTES
from greekstream.runtime.replay import read_records, replay
from greekstream.settings import KafkaSettings, SinkSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

INPUT_TOPIC = {
    "instrument": "instruments", "quote": "quotes", "index": "index", "trade": "trades",
    "collateral": "onchain", "loan": "onchain", "lp_position": "onchain", "reorg": "onchain",
    "limits": "limits", "margin": "margin",
}
OUTPUT_TOPIC = OUTPUT_ROUTES  # every output type the engine routes, from the one table


def _kind(raw: bytes) -> str:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "trade"
    return obj.get("type", "trade") if isinstance(obj, dict) else "trade"


def stream_messages(events_file: Path, prefix: str) -> list[tuple[str, bytes]]:
    """(topic, value) for every input record and every output of its replay."""
    records = [raw for raw, _ in read_records(events_file)]
    outputs = replay(read_records(events_file)).outputs
    messages = [(f"{prefix}.{INPUT_TOPIC.get(_kind(r), 'trades')}", r) for r in records]
    messages += [(f"{prefix}.{OUTPUT_TOPIC[o.type]}", encode(o)) for o in outputs]
    return messages


def produce(bootstrap: str, messages: list[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                         "enable.idempotence": True})
    for topic, value in messages:
        producer.produce(topic, value)
        producer.poll(0)
    assert producer.flush(30) == 0


@pytest.fixture
def prefix(kafka_bootstrap: str, request: pytest.FixtureRequest) -> str:
    # one per test, from its id: a module counter restarted at 0 in test_quarantine, which
    # imports this module under its package name (a second copy), and the two tests'
    # topics collided on the session's one broker
    name = "gs" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    inputs, outputs = topic_names(name)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    futures = admin.create_topics([NewTopic(t, num_partitions=2, replication_factor=1)
                                   for t in inputs + outputs])
    for future in futures.values():
        future.result(timeout=30)
    return name


def make_sink(bootstrap: str, dsn: str, prefix: str, group: str) -> Sink:
    return Sink(SinkSettings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix),
        clickhouse_dsn=SecretStr(dsn), group_id=group, session_timeout_ms=6000,
        batch_rows=2_000, batch_seconds=0.2,
    ))


def stored_counts(dsn: str) -> dict[str, tuple[int, int]]:
    """Physical rows and distinct keys per table (no FINAL: doubles would show);
    empty while the sink has not created its database yet."""
    try:
        with connect(dsn) as history:
            return {
                table: tuple(history.rows(f"SELECT count(), uniqExact({key}) FROM {table}")[0])
                for table, key in (("raw_events", "record_key"), ("exposures", "event_id"),
                                   ("breaches", "event_id"), ("hedge_intents", "event_id"),
                                   ("rejections", "event_id"), ("risk_matrix", "event_id"))
            }
    except HistoryError:
        return {}


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


class Running:
    """A sink consuming on a background thread."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.sink.run()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def stop(self) -> None:
        self.sink.stop()
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for r in started:
        if r.thread.is_alive():
            r.sink.stop()
            r.thread.join(30)


def expected_counts(messages: list[tuple[str, bytes]], prefix: str) -> dict[str, int]:
    inputs = set(topic_names(prefix)[0])
    by_type: dict[str, int] = {}
    for topic, value in messages:
        if topic not in inputs:
            kind = orjson.loads(value)["type"]
            by_type[kind] = by_type.get(kind, 0) + 1
    return {
        "raw_events": sum(1 for t, _ in messages if t in inputs),
        "exposures": by_type.get("exposure", 0),
        "breaches": by_type.get("breach", 0),
        "hedge_intents": by_type.get("hedge_intent", 0),
        "rejections": by_type.get("rejected", 0),
        "risk_matrix": by_type.get("risk_matrix", 0),
    }


def exact(expected: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {table: (n, n) for table, n in expected.items()}


def test_redelivery_does_not_duplicate_rows(
    kafka_bootstrap: str, prefix: str, dsn: str, events_file: Path, running: list[Running]
) -> None:
    messages = stream_messages(events_file, prefix)
    expected = exact(expected_counts(messages, prefix))
    assert expected["raw_events"][0] > 5000 and expected["hedge_intents"][0] > 0
    assert expected["risk_matrix"][0] > 0
    produce(kafka_bootstrap, messages)

    first = Running(make_sink(kafka_bootstrap, dsn, prefix, group=f"{prefix}-a"))
    running.append(first)
    wait_for(lambda: stored_counts(dsn) == expected, 90, "the first sink to store everything")
    first.stop()
    # A second group re-reads every record from offset 0: a full redelivery.
    again = Running(make_sink(kafka_bootstrap, dsn, prefix, group=f"{prefix}-b"))
    running.append(again)
    wait_for(lambda: again.sink.health.rows_stored >= expected["raw_events"][0], 90,
             "the redelivered stream to be written again")
    again.stop()
    with connect(dsn) as history:
        final = {t: history.rows(f"SELECT count() FROM {t} FINAL")[0][0] for t in expected}
    assert final == {t: n for t, (n, _) in expected.items()}


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_clickhouse_outage_mid_stream_loses_and_doubles_nothing(
    kafka_bootstrap: str, prefix: str, dsn: str, events_file: Path, running: list[Running]
) -> None:
    messages = stream_messages(events_file, prefix)
    half = len(messages) // 3
    expected = exact(expected_counts(messages, prefix))
    sink = make_sink(kafka_bootstrap, dsn, prefix, group=f"{prefix}-outage")
    health = serve_ops("127.0.0.1", 0, sink.health.as_dict)
    healthz = f"http://127.0.0.1:{health.server_address[1]}/healthz"
    try:
        produce(kafka_bootstrap, messages[:half])
        worker = Running(sink)
        running.append(worker)
        wait_for(lambda: sink.health.rows_stored >= half, 60, "the first third to be stored")
        assert _get(healthz) == 200

        # Outage: the store goes away (closed port) and the open client is closed.
        sink.dsn = f"http://127.0.0.1:{_closed_port()}/greekstream"
        assert sink.history is not None
        sink.history.close()
        produce(kafka_bootstrap, messages[half:])
        wait_for(lambda: sink.health.retries >= 3, 60, "the sink to retry against the outage")
        assert _get(healthz) == 503
        assert not sink.health.healthy
        assert sink.health.rows_stored < len(messages)

        sink.dsn = dsn  # ClickHouse is back
        wait_for(lambda: stored_counts(dsn) == expected, 90, "the sink to catch up")
        wait_for(lambda: sink.health.healthy, 10, "the sink to report healthy")
        assert _get(healthz) == 200
        worker.stop()
    finally:
        health.shutdown()
        health.server_close()
    assert stored_counts(dsn) == expected


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_retry_keeps_the_embedded_session_and_its_threads(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a failed batch the sink reconnects before it retries. On chDB there is nothing
    to reconnect (ClickHouse runs in the process), and every new session leaves ClickHouse
    threads and descriptors behind for good: a sink retrying a full disk would run out of
    descriptors. The session is kept; a closed one is replaced."""
    sink = make_sink("127.0.0.1:1", dsn, "keep", group="keep")  # no broker needed
    try:
        sink._connect()
        session = sink.history
        assert session is not None and session.target.embedded
        opened: list[str] = []
        real = sink_module.connect

        def counting(target: str, **kwargs: Any) -> Any:
            opened.append(target)
            return real(target, **kwargs)

        monkeypatch.setattr(sink_module, "connect", counting)
        threads = len(os.listdir("/proc/self/task"))
        for _ in range(20):
            sink._reconnect()
        assert sink.history is session and opened == []
        assert len(os.listdir("/proc/self/task")) <= threads + 2  # was +100 (5 a session)
        session.close()  # a closed session is replaced, as a remote one is
        sink._reconnect()
        assert sink.history is not session and opened == [dsn]
        assert sink.history is not None and sink.history.rows("SELECT 1") == [(1,)]
    finally:
        if sink.history is not None:
            sink.history.close()
        sink.consumer.close()
