"""Two crashes in a row on a broker that shows aborted records (Tansu): no output twice.

The real Processor and the real ``CheckpointReader.with_visible`` run over a log that
keeps every output a killed transaction delivered (as Tansu does). A restored epoch that
found such outputs past its progress used to move its output floor to the log's end at
once; when it then committed a progress below their positions and was killed too, the
next recovery started looking past them and produced them again (helper 35's review).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from greekstream.kafka.checkpoints import PROGRESS, CheckpointReader, Progress, Recovered
from greekstream.kafka.processor import Processor
from greekstream.settings import ProcessorSettings
from tests.unit.kafka.fakes import (
    BOOK,
    OUT,
    TOPICS,
    FakeKafka,
    FakeMessage,
    FakeProducer,
    assign,
    mark,
)

pytestmark = pytest.mark.timeout(60)


class Delivered:
    """An output record in the log, with what the processor wrote on it."""

    def __init__(self, topic: str, offset: int, value: bytes, headers: list[Any]) -> None:
        self._topic, self._offset, self._value, self._headers = topic, offset, value, headers

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list[Any]:
        return self._headers


class Broker:
    """What survives a SIGKILL: the output log (aborted records visible), the committed
    progress record, and the input records."""

    def __init__(self) -> None:
        self.out: list[Delivered] = []
        self.progress: bytes | None = None
        self.inputs: list[FakeMessage] = []


class LoggingProducer(FakeProducer):
    """Delivers every output to the log at once (a SIGKILL does not take them back) and
    makes the progress record durable only at commit."""

    def __init__(self, broker: Broker) -> None:
        super().__init__()
        self.broker = broker
        self.pending_progress: bytes | None = None

    def send(self, topic: str, value: bytes, key: bytes | None, partition: int = -1,
             on_delivery: Any = None, headers: Any = None) -> None:
        super().send(topic, value, key, partition, on_delivery, headers)
        if topic == TOPICS.checkpoints:
            if key == PROGRESS:
                self.pending_progress = value
        else:
            self.broker.out.append(Delivered(topic, len(self.broker.out), value,
                                             list(headers or [])))

    def commit(self) -> None:
        super().commit()
        if self.pending_progress is not None:
            self.broker.progress = self.pending_progress
        self.pending_progress = None


def restarted(broker: Broker) -> tuple[Processor, FakeKafka]:
    """A new process (the last one SIGKILLed): restores from what the broker holds."""
    kafka = FakeKafka(1, **dict.fromkeys([*TOPICS.book_topics, TOPICS.checkpoints], 1))
    kafka.txn_producer = LoggingProducer(broker)
    proc = Processor(ProcessorSettings(instance_id="i1", batch_max_ms=3_600_000),
                     clients=kafka)
    proc.start()
    progress = Progress.decode(broker.progress) if broker.progress else None
    kafka.checkpoints.recovered = {0: Recovered(progress, None, 1)}
    reader = CheckpointReader.__new__(CheckpointReader)  # its scan over the log above
    reader._scan = lambda starts, timeout_s: [  # type: ignore[method-assign]
        m for m in broker.out if m.offset() >= starts.get((m.topic(), m.partition()), 0)]
    kafka.checkpoints.with_visible = (  # type: ignore[method-assign]
        lambda recovered, outputs: CheckpointReader.with_visible(reader, recovered, outputs))
    kafka.admin_client.end = len(broker.out)  # the output log's end
    assign(proc, kafka, [0])
    return proc, kafka


def publish(broker: Broker, n: int) -> int:
    """n records of BOOK/0 (each one output: the engine rejects {"n": i}), each with a
    mark at its seq in every other input partition; the input records per record."""
    offsets: Counter[tuple[str, int]] = Counter()
    topics = [*TOPICS.market_topics, *TOPICS.book_topics]
    for seq in range(1, n + 1):
        for t in topics:
            at = offsets[(t, 0)]
            offsets[(t, 0)] += 1
            broker.inputs.append(FakeMessage(t, 0, at, b"desk", b'{"n":%d}' % seq, seq)
                                 if t == BOOK else mark(t, 0, at, seq))
    return len(topics)


def feed(proc: Processor, kafka: FakeKafka, broker: Broker, upto: int,
         fed: list[FakeMessage]) -> None:
    """Queue the input records up to index ``upto`` that this process has not read."""
    for m in broker.inputs[:upto]:
        consumer = kafka.books if m.topic() in TOPICS.book_topics else kafka.market
        at = consumer.assigned.get((m.topic(), m.partition()))
        if at is not None and (at < 0 or m.offset() >= at) and m not in fed:
            consumer.queued.append(m)
            fed.append(m)


def test_two_crashes_in_a_row_produce_no_output_twice() -> None:
    broker = Broker()
    per = publish(broker, 4)
    # process 1 commits record 1, delivers the outputs of 2..4 and is killed
    proc, kafka = restarted(broker)
    fed: list[FakeMessage] = []
    feed(proc, kafka, broker, per, fed)
    proc.step()
    proc.step()
    assert broker.progress is not None
    feed(proc, kafka, broker, 4 * per, fed)
    proc.step()
    assert len([m for m in broker.out if m.topic() == OUT]) == 4
    # process 2 finds 2..4 visible, commits after record 2, applies 3, and is killed
    proc, kafka = restarted(broker)
    assert proc.epoch is not None and len(proc.epoch.visible[0]) == 3
    fed = []
    feed(proc, kafka, broker, 2 * per, fed)
    proc.step()
    proc.step()
    feed(proc, kafka, broker, 3 * per, fed)
    proc.step()
    # process 3 must still see 3 and 4 as delivered
    proc, kafka = restarted(broker)
    fed = []
    feed(proc, kafka, broker, 4 * per, fed)
    proc.step()
    proc.step()
    copies = Counter(orjson.loads(m.value())["source"] for m in broker.out if m.topic() == OUT)
    assert sorted(copies.values()) == [1, 1, 1, 1], copies
    # committed past them: the floor is free to move on (not held for good)
    assert proc.hold_until is None and proc.floor_hold == {}
