"""Merge records from many partitions into the gateway's ``gs-seq`` order.

A record is released only when every source either has a buffered record (so the
smallest head is known to be the next one) or has reached the end of its partition.
With one gateway per stream this gives the engine exactly the file's order, which is
what makes the processor's outputs equal ``greekstream replay``'s.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import NamedTuple

Source = tuple[str, int]  # (topic, partition)
Position = tuple[int, int, int, int]  # (seq, topic rank, partition, offset): a total order


class Record(NamedTuple):
    pos: Position
    value: bytes
    key: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int


class _Buffer:
    __slots__ = ("at_end", "records")

    def __init__(self) -> None:
        self.records: deque[Record] = deque()
        self.at_end = False

    @property
    def blocking(self) -> bool:
        return not self.records and not self.at_end


class SeqMerge:
    def __init__(self, sources: list[Source]) -> None:
        self.buffers = {s: _Buffer() for s in sources}
        self.heap: list[tuple[Position, Source]] = []
        self.blocking = len(self.buffers)
        self.buffered = 0

    def push(self, source: Source, record: Record) -> None:
        buf = self.buffers[source]
        was = buf.blocking
        if not buf.records:
            heapq.heappush(self.heap, (record.pos, source))
        buf.records.append(record)
        buf.at_end = False
        self.buffered += 1
        self.blocking -= was

    def end_reached(self, source: Source) -> None:
        buf = self.buffers.get(source)
        if buf is None or buf.at_end:
            return
        was = buf.blocking
        buf.at_end = True
        self.blocking -= was

    def pop(self) -> Record | None:
        """The next record in order, or None while some source may still hold an earlier one."""
        if self.blocking or not self.heap:
            return None
        _, source = heapq.heappop(self.heap)
        buf = self.buffers[source]
        record = buf.records.popleft()
        self.buffered -= 1
        if buf.records:
            heapq.heappush(self.heap, (buf.records[0].pos, source))
        elif not buf.at_end:
            self.blocking += 1
        return record

    def waiting_on(self) -> list[Source]:
        return [s for s, b in self.buffers.items() if b.blocking]
