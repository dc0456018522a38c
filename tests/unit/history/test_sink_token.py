"""A batch's insert deduplication token names its records, not only their offsets
(history/sink.py _batch_token), real chDB.

The token was the batch's offset ranges alone ("topic/partition/first-next"), and ClickHouse
drops an insert whose token it has seen (the last 1000 inserts of a table), whatever its
rows. Offsets start at 0 again when a topic is deleted and made again, when the sink is
pointed at another cluster, or when a broker with memory storage (Tansu, the tests' and
the dev broker) restarts: the new records at offsets already stored in that day's
partition were dropped without a word, the sink counted them stored and committed past
them. A batch retried as it was (same records) is still dropped as a duplicate.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TopicPartition
from pydantic import SecretStr

from greekstream.history.client import History
from greekstream.history.sink import Sink
from greekstream.settings import SinkSettings

pytestmark = pytest.mark.timeout(120)
TOPIC = "greekstream.trades"


def trade(event_id: str, ts: str) -> bytes:
    return (b'{"type":"trade","event_id":"%s","ts":"%s","book":"desk",'
            b'"instrument_id":"BTC-PERPETUAL","side":"buy","quantity":1,"price":1}'
            % (event_id.encode(), ts.encode()))


class Record:
    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        self._partition, self._offset, self._value = partition, offset, value

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"desk"

    def value(self) -> bytes:
        return self._value


class Consumer:
    """Hands out ``values`` at offsets 0, 1, ... of ``partition``, then nothing."""

    def __init__(self, partition: int, values: list[bytes]) -> None:
        self.records = [Record(partition, o, v) for o, v in enumerate(values)]

    def consume(self, n: int, timeout: float) -> list[Any]:
        out, self.records = self.records[:n], self.records[n:]
        return out

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        pass

    def assignment(self) -> list[TopicPartition]:
        return []

    def pause(self, partitions: Any) -> None:
        pass

    def resume(self, partitions: Any) -> None:
        pass

    def close(self) -> None:
        pass


def run_sink(dsn: str, partition: int, values: list[bytes]) -> None:
    sink = Sink(SinkSettings(clickhouse_dsn=SecretStr(dsn), batch_rows=len(values),
                             batch_seconds=10))
    sink.consumer = Consumer(partition, values)  # type: ignore[assignment]
    sink.step()
    assert sink.health.rows_stored == len(values)
    sink.close()


def stored(history: History, partition: int) -> list[str]:
    return [r[0] for r in history.rows(
        "SELECT event_id FROM raw_events FINAL WHERE partition = {p:Int32} ORDER BY event_id",
        {"p": partition})]


def test_new_records_at_offsets_already_stored_are_stored(dsn: str, store: History) -> None:
    """The topic made again: offsets 0..2 hold other records, the same day."""
    run_sink(dsn, 0, [trade(f"a{n}", "2026-03-01T10:00:00Z") for n in range(3)])
    run_sink(dsn, 0, [trade(f"b{n}", "2026-03-01T11:00:00Z") for n in range(3)])
    assert stored(store, 0) == ["a0", "a1", "a2", "b0", "b1", "b2"]


def test_the_same_batch_read_again_is_still_one_insert(dsn: str, store: History) -> None:
    """A crash after the insert, before the commit: the same records at the same offsets,
    the same token, dropped by ClickHouse (no second part to collapse)."""
    values = [trade(f"c{n}", "2026-03-01T12:00:00Z") for n in range(3)]
    run_sink(dsn, 1, values)
    run_sink(dsn, 1, values)
    assert [r[0] for r in store.rows(
        "SELECT count() FROM raw_events WHERE partition = 1")] == [3]
