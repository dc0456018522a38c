"""Merge records from many partitions into the gateway's ``gs-seq`` order.

Each source (topic, partition) holds records in increasing ``gs-seq``. The gateway
also writes *marks* into every input partition: a mark with seq S says "every record
with seq <= S that belongs here is before me". A source's watermark is the seq of the
last record or mark read from it. The smallest buffered record is released only when
every source whose buffer is empty has a watermark at or past its seq, so no record
that could still come from another partition would have gone first.

Reaching the end of a partition proves nothing (the gateway may not have written the
next record yet): ordering rests on marks only. With one gateway per stream this gives
the engine exactly the file's order, which is what makes the processor's outputs
equal ``greekstream replay``'s. Marks go through the heap like records, so the offsets
the processor commits move past them.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import NamedTuple

Source = tuple[str, int]  # (topic, partition)
Position = tuple[int, int, int, int]  # (seq, topic rank, partition, offset): a total order

_INF = 1 << 62


class Record(NamedTuple):
    pos: Position
    value: bytes
    key: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    is_mark: bool = False
    sequenced: bool = True  # False: no gateway gs-seq (:meth:`SeqMerge.push` places it)
    copy: bool = False  # one of the gateway's copies of a record (a reorg, in every partition)


# an unsequenced record sorts after every gateway record of the same seq
UNSEQUENCED_RANK = 1 << 20


class _Buffer:
    __slots__ = ("records", "watermark")

    def __init__(self, watermark: int) -> None:
        self.records: deque[Record] = deque()
        self.watermark = watermark


class SeqMerge:
    def __init__(self, sources: list[Source], watermarks: dict[Source, int] | None = None) -> None:
        """``watermarks``: the seq each source is known complete to (from a checkpoint)."""
        start = watermarks or {}
        self.buffers = {s: _Buffer(start.get(s, -1)) for s in sources}
        self.heap: list[tuple[Position, Source]] = []
        self.buffered = 0
        self.low = -1  # a lower bound of the watermarks of the empty sources

    def push(self, source: Source, record: Record) -> None:
        """Buffer ``record`` from ``source``. A record without a gateway seq (another
        producer's) is placed right after what its partition held before it: the
        partition's watermark, after every gateway record of that seq. It cannot wait
        for a seq that may never come (its partition would stall behind it), nor go
        before a record already released (progress would move back); and the place
        depends only on the partition's records, so a restore puts it where a straight
        run did."""
        buf = self.buffers[source]
        if not record.sequenced:
            _unset, rank, partition, offset = record.pos
            record = record._replace(pos=(buf.watermark, UNSEQUENCED_RANK + rank, partition,
                                          offset))
        if not buf.records:
            heapq.heappush(self.heap, (record.pos, source))
        buf.records.append(record)
        buf.watermark = max(buf.watermark, record.pos[0])
        self.buffered += 1

    def pop(self) -> Record | None:
        """The next record (or mark) in order, or None while an empty source may still
        receive an earlier one."""
        heap = self.heap
        if not heap:
            return None
        seq = heap[0][0][0]
        if seq > self.low:
            self.low = min((b.watermark for b in self.buffers.values() if not b.records),
                           default=_INF)
            if seq > self.low:
                return None
        _, source = heapq.heappop(heap)
        buf = self.buffers[source]
        record = buf.records.popleft()
        self.buffered -= 1
        if buf.records:
            heapq.heappush(heap, (buf.records[0].pos, source))
        elif buf.watermark < self.low:
            self.low = buf.watermark
        return record
