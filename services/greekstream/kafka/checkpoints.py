"""Checkpoints of book partition p live in partition p of the compacted ``.checkpoints`` topic.

Two keys per partition, both written inside the processor's transactions:

* ``snapshot`` -- every checkpoint interval: the engine state of p's books plus the
  market state, the merge position it was taken at, the next offsets of p's book
  partitions and of every market-data partition;
* ``progress`` -- every transaction: the merge position whose outputs are committed,
  and the offset of the latest snapshot record.

Recovery reads the last ``progress`` record from the tail of the partition and the one
snapshot it names: two small reads, whatever the length of history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition

from greekstream.errors import KafkaError
from greekstream.kafka.merge import Position

SNAPSHOT = b"snapshot"
PROGRESS = b"progress"


@dataclass(frozen=True)
class Snapshot:
    pos: Position | None
    book_offsets: dict[str, int]  # book topic -> next offset of partition p
    market_offsets: dict[str, int]  # "topic/partition" -> next offset
    books: list[str]
    market_state: bytes  # Engine.snapshot of the market only
    books_state: bytes  # Engine.snapshot of partition p's books only

    def encode(self) -> bytes:
        meta = {
            "pos": self.pos, "book_offsets": self.book_offsets,
            "market_offsets": self.market_offsets, "books": self.books,
        }
        return b"\n".join((orjson.dumps(meta), self.market_state, self.books_state))

    @classmethod
    def decode(cls, value: bytes) -> Snapshot:
        head, market, books = value.split(b"\n", 2)
        meta = orjson.loads(head)
        pos = tuple(meta["pos"]) if meta["pos"] is not None else None
        return cls(pos, meta["book_offsets"], meta["market_offsets"], meta["books"], market,
                   books)


@dataclass(frozen=True)
class Progress:
    pos: Position | None
    snapshot_offset: int | None

    def encode(self) -> bytes:
        return orjson.dumps({"pos": self.pos, "snapshot_offset": self.snapshot_offset})

    @classmethod
    def decode(cls, value: bytes) -> Progress:
        doc = orjson.loads(value)
        return cls(tuple(doc["pos"]) if doc["pos"] is not None else None, doc["snapshot_offset"])


@dataclass(frozen=True)
class Recovered:
    progress: Progress | None
    snapshot: Snapshot | None
    records_read: int


class CheckpointReader:
    """Reads the latest committed checkpoint of a partition (read_committed)."""

    def __init__(self, conf: dict[str, Any], topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer({
            **conf, "group.id": f"{conf.get('client.id', 'greekstream')}-checkpoint-reader",
            "enable.auto.commit": False, "enable.partition.eof": True,
            "isolation.level": "read_committed", "auto.offset.reset": "earliest",
        })

    def close(self) -> None:
        self.consumer.close()

    def latest(self, partition: int, timeout_s: float = 30.0) -> Recovered:
        tp = TopicPartition(self.topic, partition)
        try:
            low, high = self.consumer.get_watermark_offsets(tp, timeout=timeout_s)
        except KafkaException as exc:
            raise KafkaError(f"cannot read checkpoints of partition {partition}: {exc}") from exc
        step, read = 16, 0
        while high > low:
            start = max(low, high - step)
            found, n = self._last_progress(partition, start, timeout_s)
            read += n
            if found is not None:
                snap = self._snapshot_at(partition, found.snapshot_offset, timeout_s)
                return Recovered(found, snap, read + (snap is not None))
            if start == low:
                break
            step *= 8
        return Recovered(None, None, read)

    def _read(self, partition: int, start: int, timeout_s: float, limit: int | None) -> list[Any]:
        self.consumer.assign([TopicPartition(self.topic, partition, start)])
        out: list[Any] = []
        idle_deadline = timeout_s
        while limit is None or len(out) < limit:
            msg = self.consumer.poll(1.0)
            if msg is None:
                idle_deadline -= 1.0
                if idle_deadline <= 0:
                    raise KafkaError(f"timed out reading checkpoints partition {partition}")
                continue
            err = msg.error()
            if err is not None:
                if err.code() == err._PARTITION_EOF:
                    break
                if not err.retriable():
                    raise KafkaError(f"cannot read checkpoints: {err}")
                continue
            out.append(msg)
        self.consumer.unassign()
        return out

    def _last_progress(self, partition: int, start: int, timeout_s: float) -> tuple[
        Progress | None, int
    ]:
        msgs = self._read(partition, start, timeout_s, None)
        found = None
        for msg in msgs:
            if msg.key() == PROGRESS:
                found = Progress.decode(msg.value())
        return found, len(msgs)

    def _snapshot_at(self, partition: int, offset: int | None, timeout_s: float) -> Snapshot | None:
        if offset is None:
            return None
        msgs = self._read(partition, offset, timeout_s, 1)
        if not msgs or msgs[0].key() != SNAPSHOT or msgs[0].offset() != offset:
            raise KafkaError(f"checkpoint partition {partition}: no snapshot at offset {offset}")
        return Snapshot.decode(msgs[0].value())
