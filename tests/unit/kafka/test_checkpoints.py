"""The checkpoint reader's wait for a transaction open on a checkpoint partition
(kafka/checkpoints.py ``CheckpointReader._stable_bounds``), over a fake partition and a
fake clock, no broker: it is read only once the transaction has ended, and a transaction
the broker never ends is an error after the transaction timeout plus a margin."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import TopicPartition

from greekstream.errors import KafkaError
from greekstream.kafka import checkpoints
from greekstream.kafka.checkpoints import (
    PROGRESS,
    SNAPSHOT,
    TXN_MARGIN_S,
    CheckpointReader,
    Progress,
    Snapshot,
    open_transaction_limit_s,
)
from greekstream.kafka.merge import Position
from tests.unit.kafka.fakes import FakeMessage

TOPIC = "greekstream.checkpoints"


class Clock:
    """time.monotonic and time.sleep: sleeping moves the clock, at once; a wait of an hour
    fails the test (a wait with no bound would never end)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        assert self.now < 1000.0 + 3600, "still waiting after an hour"


class End:
    """The read_committed end of a partition, as a consumer reports it."""

    def __init__(self, partition: int) -> None:
        self._partition = partition

    def error(self) -> RdKafkaError:
        return RdKafkaError(RdKafkaError._PARTITION_EOF)

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition


class Log:
    """The checkpoint topic: each partition's records; the last ``open[p]`` of them are in
    a transaction still open (hidden from read_committed) until ``closes_at[p]`` on the
    clock (never without one). ``reads`` logs each poll that returned a record, with the
    records still open then."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.records: dict[int, list[FakeMessage]] = {}
        self.open: dict[int, int] = {}
        self.closes_at: dict[int, float] = {}
        self.reads: list[tuple[int, int]] = []  # (offset read, records open then)

    def append(self, partition: int, key: bytes, value: bytes) -> None:
        records = self.records.setdefault(partition, [])
        records.append(FakeMessage(TOPIC, partition, len(records), key, value, 0))

    def still_open(self, partition: int) -> int:
        if self.clock.now >= self.closes_at.get(partition, float("inf")):
            self.open[partition] = 0
        return self.open.get(partition, 0)

    def stable(self, partition: int) -> int:
        return len(self.records.get(partition, [])) - self.still_open(partition)


class FakeConsumer:
    """One of the reader's two consumers over the Log (by its isolation level)."""

    log: Log

    def __init__(self, conf: dict[str, Any]) -> None:
        self.committed = conf["isolation.level"] == "read_committed"
        self.at: dict[int, int] = {}

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        p = tp.partition
        end = self.log.stable(p) if self.committed else len(self.log.records.get(p, []))
        return 0, end

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.at = {tp.partition: tp.offset for tp in partitions}

    def unassign(self) -> None:
        self.at = {}

    def poll(self, timeout: float) -> FakeMessage | End | None:
        for p, offset in self.at.items():
            if offset < 0:
                continue
            if offset >= self.log.stable(p):
                self.at[p] = -1
                return End(p)
            self.at[p] = offset + 1
            self.log.reads.append((offset, self.log.still_open(p)))
            return self.log.records[p][offset]
        return None

    def close(self) -> None:
        pass


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> Log:
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)  # the module checkpoints reads
    monkeypatch.setattr(time, "sleep", clock.sleep)
    log = Log(clock)
    monkeypatch.setattr(FakeConsumer, "log", log, raising=False)
    monkeypatch.setattr(checkpoints, "Consumer", FakeConsumer)
    return log


def checkpoint(log: Log, partition: int, pos: Position) -> None:
    """A committed-looking snapshot and the progress that names it."""
    offset = len(log.records.get(partition, []))
    snap = Snapshot(pos, {}, {}, [f"desk-{partition}"], b"{}", b"{}")
    log.append(partition, SNAPSHOT, snap.encode())
    log.append(partition, PROGRESS, Progress(pos, offset).encode())


def test_a_transaction_the_broker_never_ends_is_an_error_after_its_timeout(
        topic: Log) -> None:
    """Apache Kafka aborts a transaction after transaction.timeout.ms: one still open long
    after it (a broker that does not, like Tansu, or a bug) used to be waited for
    forever, unready, with a warning every 5 s. The checkpoints are never read meanwhile."""
    checkpoint(topic, 0, (0, 0, 0, 1))
    checkpoint(topic, 1, (1, 0, 0, 1))
    topic.append(1, PROGRESS, Progress((1, 0, 0, 9), 0).encode())
    topic.open[1] = 1  # the last progress: a killed owner's transaction, never ended
    reader = CheckpointReader({}, TOPIC)
    started = topic.clock.now
    with pytest.raises(KafkaError) as caught:
        reader.latest_many([0, 1], transaction_timeout_ms=3000)
    waited = topic.clock.now - started
    assert open_transaction_limit_s(3000) == 3.0 + TXN_MARGIN_S
    assert 3.0 + TXN_MARGIN_S <= waited < 3.0 + TXN_MARGIN_S + 1.0  # the last sleep is 0.5 s
    text = str(caught.value)
    assert f"checkpoint partitions [1] of {TOPIC}" in text  # only the one still open
    assert f"open on them for {waited:.0f} s" in text
    assert "transaction_timeout_ms 3000" in text
    assert "check the broker" in text and "same transactional id" in text
    assert "restart" in text
    assert topic.reads == [], "read checkpoints while a transaction on them was open"


def test_a_transaction_that_ends_before_the_limit_is_waited_for_and_its_progress_read(
        topic: Log) -> None:
    """The bound does not cut a wait short: a transaction that ends a little before it is
    waited for, and the progress it committed is the one read (reading earlier finds the
    older one, and recovery would produce again what that transaction holds)."""
    checkpoint(topic, 0, (0, 0, 0, 1))
    topic.append(0, PROGRESS, Progress((0, 0, 0, 9), 0).encode())
    topic.open[0] = 1
    # it ends past the 3 s transaction timeout, as a broker's abort may, within the margin
    topic.closes_at[0] = topic.clock.now + 3.0 + TXN_MARGIN_S - 1.0
    reader = CheckpointReader({}, TOPIC)
    got = reader.latest_many([0], transaction_timeout_ms=3000)
    assert got[0].progress == Progress((0, 0, 0, 9), 0)
    assert got[0].snapshot is not None and got[0].snapshot.pos == (0, 0, 0, 1)
    assert topic.reads and all(still_open == 0 for _, still_open in topic.reads)
    assert topic.clock.now - 1000.0 >= 3.0 + TXN_MARGIN_S - 1.0  # it waited for the end


def test_a_stop_ends_the_wait_for_an_open_transaction_at_once_and_reads_nothing(
        topic: Log) -> None:
    """SIGTERM during the wait: it used to be waited out (forever, then up to the limit),
    past the pod's grace period."""
    checkpoint(topic, 0, (0, 0, 0, 1))
    topic.open[0] = 1
    polls: list[float] = []

    def stop() -> bool:
        polls.append(topic.clock.now)
        return len(polls) >= 3

    reader = CheckpointReader({}, TOPIC)
    with pytest.raises(KafkaError, match=r"stopped while waiting .* partitions \[0\]"):
        reader.latest_many([0], transaction_timeout_ms=3000, stop=stop)
    assert len(polls) == 3 and topic.clock.now - 1000.0 < 1.0
    assert topic.reads == []
