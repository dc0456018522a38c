"""A sink that starts again (a restart, a crash before its commit, a partition that comes
back at a rebalance) continues each stream's arrival clock from the store (real chDB).

A record's ``arrival_ts`` is its partition's clock, the running max of ``ts`` over the
records before it, and it is in ``raw_events``' key. A new writer began every clock at 0:
a record read again after a crash was stored a second time under another key (``FINAL``
kept both), and the replay order (``iter_raw``, the first copy by ``arrival_ts``) put it
before records the processor had read first; a record that does not decode, first after
a restart, was stored in 1970.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TopicPartition
from pydantic import SecretStr

from greekstream.history.client import History
from greekstream.history.replay_io import iter_raw
from greekstream.history.sink import Sink
from greekstream.history.writer import HistoryWriter
from greekstream.settings import SinkSettings

pytestmark = pytest.mark.timeout(120)
TOPIC = "greekstream.trades"


def trade(n: int, ts: str) -> bytes:
    return (b'{"type":"trade","event_id":"t%d","ts":"%s","book":"desk",'
            b'"instrument_id":"BTC-PERPETUAL","side":"buy","quantity":1,"price":1}'
            % (n, ts.encode()))


# the partition as it holds them: a trade, one a minute late, a record that does not decode
RECORDS = [trade(0, "2026-03-01T10:00:00Z"), trade(1, "2026-03-01T09:59:00Z"), b"not json"]


class Record:
    def __init__(self, partition: int, offset: int) -> None:
        self._partition, self._offset = partition, offset

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
        return RECORDS[self._offset]


class Consumer:
    """Hands out the records at ``offsets`` of ``partition``, then nothing."""

    def __init__(self, partition: int, offsets: list[int]) -> None:
        self.records = [Record(partition, o) for o in offsets]
        self.committed: list[TopicPartition] = []

    def consume(self, n: int, timeout: float) -> list[Any]:
        out, self.records = self.records[:n], self.records[n:]
        return out

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.committed = offsets

    def assignment(self) -> list[TopicPartition]:
        return []

    def pause(self, partitions: Any) -> None:
        pass

    def resume(self, partitions: Any) -> None:
        pass

    def close(self) -> None:
        pass


def run_sink(dsn: str, partition: int, offsets: list[int]) -> None:
    """A sink started afresh reads ``offsets`` of ``partition`` and stores them (each
    test has its partition of the records)."""
    sink = Sink(SinkSettings(clickhouse_dsn=SecretStr(dsn), batch_rows=10,
                             batch_seconds=0.2))
    sink.consumer = Consumer(partition, offsets)  # type: ignore[assignment]
    sink.step()
    assert sink.health.rows_stored == len(offsets)
    sink.close()


def rows(history: History, partition: int) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in history.rows(  # type: ignore[misc]
        "SELECT source, toString(ts), toString(arrival_ts) FROM raw_events FINAL "
        "WHERE partition = {p:Int32} ORDER BY seq, arrival_ts", {"p": partition})]


def expected(partition: int) -> list[tuple[str, str, str]]:
    """Each record once, at its partition's clock when the processor read it."""
    return [
        (f"{TOPIC}/{partition}/0", "2026-03-01 10:00:00.000000", "2026-03-01 10:00:00.000000"),
        (f"{TOPIC}/{partition}/1", "2026-03-01 09:59:00.000000", "2026-03-01 10:00:00.000000"),
        (f"{TOPIC}/{partition}/2", "2026-03-01 10:00:00.000000", "2026-03-01 10:00:00.000000"),
    ]


def test_records_read_again_after_a_crash_collapse_and_keep_their_place(
        dsn: str, store: History) -> None:
    run_sink(dsn, 0, [0, 1, 2])
    # SIGKILL after the insert, before the commit of 1 and 2: the restarted sink reads
    # them again (its batch is another, so is its token)
    run_sink(dsn, 0, [1, 2])
    assert rows(store, 0) == expected(0)
    replayed = [source for _, source in iter_raw(store) if source.startswith(f"{TOPIC}/0/")]
    assert replayed == [source for source, _, _ in expected(0)]


def test_a_restart_continues_the_clock_of_each_partition(dsn: str, store: History) -> None:
    """A clean restart (record 0 committed): the late trade arrives at the stored clock,
    and the record that does not decode is not dated 1970."""
    run_sink(dsn, 1, [0])
    run_sink(dsn, 1, [1, 2])
    assert rows(store, 1) == expected(1)


def test_a_writer_not_told_to_resume_starts_from_its_floor(store: History) -> None:
    """The embedded replay's writer keeps its own floor (replay_io.plan_append)."""
    writer = HistoryWriter(store)
    writer.add_record(b"not json", "file.jsonl:1")
    assert writer.buffers["raw_events"].columns[4] == [0]


class Recording:
    """The store, with the SQL of every query it is asked."""

    def __init__(self, history: History) -> None:
        self.history, self.queries = history, []  # type: ignore[var-annotated]

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        self.queries.append(sql)
        return self.history.rows(sql, parameters)

    def __getattr__(self, name: str) -> Any:  # inserts and the rest: the store's own
        return getattr(self.history, name)


def test_a_clock_is_looked_for_in_the_last_day_first_then_in_the_whole_history(
        store: History) -> None:
    """The sink meets new streams at every start and rebalance: its first look is bounded
    to the day before the latest arrival stored (raw_events is partitioned by day), not a
    scan of the whole history. A stream idle for longer is then looked for everywhere and
    still continues its clock."""
    first = HistoryWriter(store, resume_streams=True)
    first.add_record(trade(10, "2026-03-01T10:00:00Z"), f"{TOPIC}/5/0")
    first.add_record(trade(11, "2026-03-09T10:00:00Z"), f"{TOPIC}/6/0")  # 8 days later
    first.flush()
    again = Recording(store)
    writer = HistoryWriter(again, resume_streams=True)  # type: ignore[arg-type]
    writer.add_record(trade(12, "2026-03-01T09:59:00Z"), f"{TOPIC}/5/1")  # late
    writer.add_record(trade(13, "2026-03-09T09:59:00Z"), f"{TOPIC}/6/1")  # late
    writer.flush()
    clock_queries = [q for q in again.queries if "GROUP BY stream, partition" in q]
    assert len(clock_queries) == 2  # the day (finds partition 6), then everywhere (5)
    assert "arrival_ts >=" in clock_queries[0] and "arrival_ts >=" not in clock_queries[1]
    for partition, day in ((5, "01"), (6, "09")):
        assert [r[2] for r in rows(store, partition)] == [f"2026-03-{day} 10:00:00.000000"] * 2
