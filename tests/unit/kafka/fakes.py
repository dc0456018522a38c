"""Fakes of the processor's Kafka clients, no broker: the transactional producer seam
(kafka/transaction.py ``TxnProducer``) and the clients a :class:`Processor` builds through
:class:`~greekstream.kafka.processor.KafkaClients`. Each records the calls made to it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from confluent_kafka import IsolationLevel, KafkaError, KafkaException, TopicPartition

from greekstream.errors import KafkaError as StillOpen
from greekstream.kafka.checkpoints import SNAPSHOT, Recovered
from greekstream.kafka.gateway import MARK_KEY, SEQ_HEADER
from greekstream.kafka.processor import KafkaClients, Processor
from greekstream.kafka.topics import Topics
from greekstream.kafka.transaction import Offsets
from greekstream.settings import ProcessorSettings


class Delivered:
    def __init__(self, partition: int, offset: int) -> None:
        self._partition, self._offset = partition, offset

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


class FakeProducer:
    """The TxnProducer seam: records every call; the broker delivers each record at once
    (at the next offset of its partition) unless told otherwise."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.next_offset: Counter[tuple[str, int]] = Counter()
        self.undelivered = 0
        self.deliver_snapshots = True
        self.undelivered_keys: set[bytes | None] = set()  # records of these keys are lost
        self.fail_commit: Exception | None = None
        self.fail_offsets: Exception | None = None
        self.fail_send: Exception | None = None  # raised by the next send
        self.fail_delivery: Any = None  # the error every delivery report gives, if any

    def init(self) -> None:
        self.calls.append(("init",))

    def begin(self) -> None:
        self.calls.append(("begin",))

    def send(self, topic: str, value: bytes, key: bytes | None, partition: int = -1,
             on_delivery: Any = None, headers: list[tuple[str, bytes]] | None = None) -> None:
        self.calls.append(("send", topic, key, partition, value))
        if self.fail_send is not None:
            failure, self.fail_send = self.fail_send, None
            raise failure
        offset = self.next_offset[(topic, partition)]
        self.next_offset[(topic, partition)] += 1
        snapshot = key is not None and key.startswith(SNAPSHOT)  # whole or a chunk
        if (on_delivery is not None and (self.deliver_snapshots or not snapshot)
                and key not in self.undelivered_keys):
            on_delivery(self.fail_delivery, Delivered(partition, 100 + offset))

    def flush(self, timeout_s: float) -> int:
        self.calls.append(("flush",))
        return self.undelivered

    def send_offsets(self, offsets: Offsets) -> None:
        self.calls.append(("send_offsets", offsets))
        if self.fail_offsets is not None:
            raise self.fail_offsets

    def commit(self) -> None:
        self.calls.append(("commit",))
        if self.fail_commit is not None:
            raise self.fail_commit

    def abort(self) -> None:
        self.calls.append(("abort",))

    def replace(self) -> None:
        self.calls.append(("replace",))

    def steps(self) -> list[tuple[Any, ...]]:
        """The calls, a send shown as (send, topic, key, partition)."""
        return [c[:4] for c in self.calls]

    def sent(self, key: bytes) -> list[tuple[int, bytes]]:
        """(partition, value) of every record sent with ``key``."""
        return [(c[3], c[4]) for c in self.calls if c[0] == "send" and c[2] == key]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeMessage:
    """A consumed record as confluent-kafka hands it over (``value`` None: a tombstone;
    ``seq`` None: a null gateway stamp)."""

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None,
                 value: bytes | None, seq: int | None) -> None:
        self._tpo = (topic, partition, offset)
        self._key, self._value, self._seq = key, value, seq

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._tpo[0]

    def partition(self) -> int:
        return self._tpo[1]

    def offset(self) -> int:
        return self._tpo[2]

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes | None]]:
        return [(SEQ_HEADER, None if self._seq is None else str(self._seq).encode())]

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)


class FakeConsumer:
    """A consumer: ``queued`` is what the next ``consume`` returns; ``assigned`` what it
    reads ((topic, partition) -> offset), as assign/seek/unassign left it."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.calls: list[tuple[Any, ...]] = []
        self.queued: list[FakeMessage] = []
        self.assigned: dict[tuple[str, int], int] = {}
        self.high: dict[tuple[str, int], int] = {}  # high watermarks

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.calls.append(("subscribe", topics))
        self.callbacks = callbacks

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.calls.append(("assign",))
        self.assigned = {(tp.topic, tp.partition): tp.offset for tp in partitions}

    def unassign(self) -> None:
        self.calls.append(("unassign",))
        self.assigned = {}

    def seek(self, tp: TopicPartition) -> None:
        self.calls.append(("seek", tp.topic, tp.partition, tp.offset))
        self.assigned[(tp.topic, tp.partition)] = tp.offset

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        msgs, self.queued = self.queued[:num_messages], self.queued[num_messages:]
        return msgs

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool) -> tuple[int, int]:
        return 0, self.high.get((tp.topic, tp.partition), -1)

    def close(self) -> None:
        self.calls.append(("close",))


class FakeReader:
    """The checkpoint reader: what each partition's checkpoints hold (none by default);
    the next ``fail_next`` reads raise the KafkaError of a transaction left open."""

    def __init__(self) -> None:
        self.recovered: dict[int, Recovered] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.transaction_timeout_ms = 0  # as the last latest_many was given it
        self.fail_next = 0  # reads that fail as a transaction open past its limit does
        self.open_for = 0  # polls of the next read's wait for an open transaction

    def latest_many(self, partitions: list[int], *, transaction_timeout_ms: int,
                    stop: Callable[[], bool] = lambda: False) -> dict[int, Recovered]:
        self.calls.append(("latest_many", partitions))
        self.transaction_timeout_ms = transaction_timeout_ms
        for _ in range(self.open_for):  # a transaction open for that many polls
            if stop():
                raise StillOpen(f"stopped while waiting on checkpoint partitions {partitions}")
        self.open_for = 0
        if self.fail_next:
            self.fail_next -= 1
            raise StillOpen(f"checkpoint partitions {partitions}: a transaction stayed open")
        return {p: self.recovered.get(p, Recovered(None, None, 0)) for p in partitions}

    def with_visible(self, recovered: dict[int, Recovered],
                     outputs: list[tuple[str, int]]) -> dict[int, Recovered]:
        return recovered

    def close(self) -> None:
        self.calls.append(("close",))


class FakeAdmin:
    """Answers ListOffsets: every output partition ends at ``end``; a transaction is open
    on them (the read_committed end one below) for the next ``open_for`` read_committed
    requests. ``calls`` logs each request's isolation level."""

    def __init__(self) -> None:
        self.end = 0
        self.open_for = 0
        self.fail_next = 0  # requests that fail as if the broker were unreachable
        self.calls: list[str] = []

    def list_offsets(self, request: dict[TopicPartition, Any], request_timeout: float,
                     isolation_level: IsolationLevel = IsolationLevel.READ_UNCOMMITTED
                     ) -> dict[TopicPartition, Any]:
        self.calls.append(isolation_level.name)
        if self.fail_next:
            self.fail_next -= 1
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker unreachable"))
        end = self.end
        if isolation_level == IsolationLevel.READ_COMMITTED and self.open_for > 0:
            self.open_for -= 1
            end -= 1
        answer = SimpleNamespace(offset=end)
        return {tp: SimpleNamespace(result=lambda a=answer: a) for tp in request}


class FakeKafka(KafkaClients):
    """The processor's clients, faked: every topic exists with ``partitions[topic]`` (else
    ``default_partitions``) partitions; ``books`` and ``market`` are the two consumers."""

    def __init__(self, default_partitions: int = 1, **partitions: int) -> None:
        self.default_partitions = default_partitions
        self.partitions = partitions
        self.txn_producer = FakeProducer()
        self.checkpoints = FakeReader()
        self.admin_client = FakeAdmin()
        self.consumers: list[FakeConsumer] = []
        self.layout_calls = 0

    def partition_counts(self, conf: dict[str, Any], names: list[str]) -> dict[str, int]:
        self.layout_calls += 1
        return {n: self.partitions.get(n, self.default_partitions) for n in names}

    def consumer(self, conf: dict[str, Any]) -> Any:
        consumer = FakeConsumer(conf)
        self.consumers.append(consumer)
        return consumer

    def producer(self, conf: dict[str, Any], group_metadata: Callable[[], Any],
                 backoff: Any, trouble: Callable[[str], None],
                 stopping: Callable[[], bool], waiting: Any) -> Any:
        self.producer_conf = conf
        self.producer_waiting = waiting
        return self.txn_producer

    def reader(self, conf: dict[str, Any], topic: str) -> Any:
        return self.checkpoints

    def admin(self, conf: dict[str, Any]) -> Any:
        return self.admin_client

    @property
    def books(self) -> FakeConsumer:
        return self.consumers[0]

    @property
    def market(self) -> FakeConsumer:
        return self.consumers[1]


def mark(topic: str, partition: int, offset: int, seq: int) -> FakeMessage:
    """A gateway mark: every record up to ``seq`` of this partition is before it."""
    return FakeMessage(topic, partition, offset, MARK_KEY, b"", seq)


# ------------------------------------------------------------- a processor over them

TOPICS = Topics()
BOOK = TOPICS.book_topics[0]
OUT = TOPICS.for_output("rejected")


def processor() -> tuple[Processor, FakeKafka]:
    """A started processor over two book partitions and one of every other topic; a batch
    is committed when it is caught up, never on time (the tests step it by hand)."""
    kafka = FakeKafka(1, **dict.fromkeys([*TOPICS.book_topics, TOPICS.checkpoints], 2))
    proc = Processor(ProcessorSettings(instance_id="i1", batch_max_ms=3_600_000), clients=kafka)
    proc.start()
    return proc, kafka


def assign(proc: Processor, kafka: FakeKafka, partitions: list[int]) -> None:
    """The group gives the processor these partitions of every book topic (range)."""
    tps = [TopicPartition(t, p) for t in TOPICS.book_topics for p in partitions]
    kafka.books.callbacks["on_assign"](kafka.books, tps)


def revoke(kafka: FakeKafka) -> None:
    kafka.books.callbacks["on_revoke"](kafka.books, [])


def lose(kafka: FakeKafka) -> None:
    kafka.books.callbacks["on_lost"](kafka.books, [])


class Gateway:
    """Publishes as the gateway does: a record with the next seq, and a mark at that seq
    in every other partition the processor reads, so the merge can release it."""

    def __init__(self, proc: Processor, kafka: FakeKafka) -> None:
        self.proc, self.kafka = proc, kafka
        self.seq = 0
        self.offsets: Counter[tuple[str, int]] = Counter()

    def publish(self, partition: int, value: bytes | None = b"{}", stamp: bool = True) -> int:
        """A book record of ``partition`` of BOOK (``stamp`` False: with a null seq
        header); returns its offset."""
        epoch = self.proc.epoch
        assert epoch is not None
        self.seq += 1
        offset = 0
        for t, p in epoch.next_offsets:
            consumer = self.kafka.books if t in TOPICS.book_topics else self.kafka.market
            at = self.offsets[(t, p)]
            self.offsets[(t, p)] += 1
            if (t, p) == (BOOK, partition):
                offset = at
                consumer.queued.append(
                    FakeMessage(t, p, at, b"desk", value, self.seq if stamp else None))
            else:
                consumer.queued.append(mark(t, p, at, self.seq))
        return offset
