"""The sink's loop across a rebalance (history/sink.py): no record it read is committed
without being stored (helper 35's review found two ways it was).

The consumer is a stand-in that runs the rebalance callback inside ``consume``, as
librdkafka does; the writer is the real HistoryWriter, storing into a counting history.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, TopicPartition

from greekstream.errors import HistoryError
from greekstream.history.sink import Sink
from greekstream.history.writer import HistoryWriter
from greekstream.settings import SinkSettings

pytestmark = pytest.mark.timeout(60)
TOPIC = "greekstream.trades"


class CountingHistory:
    """Stores rows by counting them; ``down`` refuses every insert (ClickHouse away)."""

    closed = False
    target: Any = None

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.down = False

    def insert(self, table: str, block: Any, cols: Any, token: Any = None) -> None:
        if self.down:
            raise HistoryError("ClickHouse is down")
        if table == "raw_events":  # source is "topic/partition/offset"
            sources = block[list(cols).index("source")]
            self.keys.extend(int(source.rsplit("/", 1)[1]) for source in sources)

    def insert_json(self, table: str, body: bytes, cols: Any, token: Any = None) -> None:
        if self.down:
            raise HistoryError("ClickHouse is down")

    def rows(self, sql: str, parameters: Any = None) -> list[Any]:
        """The stored arrival clocks (HistoryWriter._resume): none kept here."""
        if self.down:
            raise HistoryError("ClickHouse is down")
        return []


class Record:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"desk"

    def value(self) -> bytes:
        return (b'{"type":"trade","event_id":"t%d","ts":"2026-03-01T00:00:00Z","book":"desk",'
                b'"instrument_id":"BTC-PERPETUAL","side":"buy","quantity":1,"price":1}'
                % self._offset)


class Event:
    """An error event (not a record), as librdkafka returns them from consume."""

    def __init__(self, code: int, fatal: bool = False) -> None:
        self.err = RdKafkaError(code, fatal=fatal)

    def error(self) -> RdKafkaError:
        return self.err


class RebalancingConsumer:
    """Hands out records 0..total-1; at the ``rebalance_at``-th consume call, revokes the
    partition with the commit refused (the member was fenced), then reassigns it from the
    committed offset, as a rebalance inside ``consume`` does."""

    def __init__(self, total: int, rebalance_at: int, events: dict[int, Event] | None = None,
                 ) -> None:
        self.total, self.rebalance_at = total, rebalance_at
        self.next = self.calls = 0
        self.committed = 0
        self.refuse_commit = False
        self.paused: list[Any] = []
        self.events = events or {}

    def subscribe(self, topics: Any, on_revoke: Any) -> None:
        self.on_revoke = on_revoke

    def consume(self, n: int, timeout: float) -> list[Any]:
        self.calls += 1
        if self.calls in self.events:
            return [self.events[self.calls]]
        if self.calls == self.rebalance_at:
            self.refuse_commit = True
            self.on_revoke(self, [TopicPartition(TOPIC, 0)])
            self.refuse_commit = False
            self.next = self.committed  # the new assignment starts at the committed offset
            self.paused = []  # and is not paused
        if self.next >= self.total:
            return []
        record = Record(self.next)
        self.next += 1
        return [record]

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.refuse_commit:
            raise KafkaException(RdKafkaError(RdKafkaError.ILLEGAL_GENERATION))
        self.committed = offsets[0].offset

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, 0)]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused = partitions

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused = []

    def close(self) -> None:
        pass


def sink_over(consumer: RebalancingConsumer, history: CountingHistory, rows: int) -> Sink:
    sink = Sink(SinkSettings(batch_rows=rows, batch_seconds=0.3))
    sink.consumer = consumer  # type: ignore[assignment]
    sink.history = history  # type: ignore[assignment]
    history.target = SimpleNamespace(embedded=True, dsn=sink.dsn)  # kept on a retry
    sink.writer = HistoryWriter(history)  # type: ignore[arg-type]
    sink.backoff.next = lambda: 0.0  # type: ignore[method-assign]
    consumer.subscribe([], on_revoke=sink._on_revoke)
    return sink


def stored_offsets(history: CountingHistory) -> set[int]:
    return set(history.keys)


def test_records_read_after_a_dropped_batch_are_stored_before_they_are_committed() -> None:
    history = CountingHistory()
    consumer = RebalancingConsumer(total=10, rebalance_at=3)
    sink = sink_over(consumer, history, rows=8)
    for _ in range(4):
        sink.step()
    assert consumer.committed == 10
    # every committed offset is stored (records 0 and 1 were dropped at the revoke, not
    # committed, and read again from the committed offset 0)
    assert stored_offsets(history) >= set(range(10)), sorted(stored_offsets(history))


def test_a_record_read_while_clickhouse_is_down_joins_the_batch() -> None:
    """The retry loop's consume (kept for the group membership) can return a record once
    a rebalance unpaused the partitions: it was dropped, and committed past."""
    history = CountingHistory()
    consumer = RebalancingConsumer(total=6, rebalance_at=0)
    sink = sink_over(consumer, history, rows=3)
    real_store = sink._store_and_commit
    failures = iter([True, False])

    def store_once_down() -> None:
        history.down = next(failures, False)
        if history.down:
            consumer.paused = []  # a rebalance meanwhile: the new assignment is unpaused
        real_store()

    sink._store_and_commit = store_once_down  # type: ignore[method-assign]
    for _ in range(4):
        sink.step()
    assert consumer.committed == 6
    assert stored_offsets(history) >= set(range(6)), sorted(stored_offsets(history))


def test_a_transient_consumer_error_is_logged_a_fatal_one_stops_the_sink(
        caplog: pytest.LogCaptureFixture) -> None:
    from greekstream.errors import KafkaError

    history = CountingHistory()
    consumer = RebalancingConsumer(total=4, rebalance_at=0,
                                   events={1: Event(RdKafkaError._TRANSPORT)})
    sink = sink_over(consumer, history, rows=4)
    sink.step()
    sink.step()
    assert consumer.committed == 4 and stored_offsets(history) >= set(range(4))
    assert "sink consumer" in caplog.text
    fatal = RebalancingConsumer(total=4, rebalance_at=0,
                                events={1: Event(RdKafkaError._FATAL, fatal=True)})
    with pytest.raises(KafkaError, match="sink consumer error"):
        sink_over(fatal, CountingHistory(), rows=4).step()


class CommitRefusedOnce(RebalancingConsumer):
    """Refuses the first commit outside any revoke, as the coordinator does while the
    group rebalances (REBALANCE_IN_PROGRESS) or after a session that timed out."""

    def __init__(self, total: int, code: int, fatal: bool = False) -> None:
        super().__init__(total, rebalance_at=0)
        self.refusal: RdKafkaError | None = RdKafkaError(code, fatal=fatal)

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        refusal, self.refusal = self.refusal, None
        if refusal is not None:
            raise KafkaException(refusal)
        super().commit(offsets, asynchronous)


def test_a_refused_commit_after_the_rows_are_stored_does_not_stop_the_sink(
        caplog: pytest.LogCaptureFixture) -> None:
    """The batch is stored; only its offsets are not committed: they go with the next
    commit (or the partition's next owner reads the batch again, and it collapses). The
    refusal left the loop, and `greekstream sink` exited at a routine rebalance."""
    history = CountingHistory()
    consumer = CommitRefusedOnce(total=6, code=RdKafkaError.REBALANCE_IN_PROGRESS)
    sink = sink_over(consumer, history, rows=3)
    sink.step()  # records 0-2 stored, their commit refused
    assert consumer.committed == 0 and stored_offsets(history) == {0, 1, 2}
    assert "offset commit" in caplog.text
    sink.step()
    assert consumer.committed == 6 and stored_offsets(history) == set(range(6))
    assert sink.health.healthy


def test_a_fatal_commit_error_still_stops_the_sink() -> None:
    from greekstream.errors import KafkaError

    consumer = CommitRefusedOnce(total=3, code=RdKafkaError._FATAL, fatal=True)
    sink = sink_over(consumer, CountingHistory(), rows=3)
    with pytest.raises(KafkaError, match="offset commit failed"):
        sink.step()
