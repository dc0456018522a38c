"""A replay's input records spooled to a file, and read back from it one at a time.

``greekstream serve`` re-derives a book through the engine in a worker process
(api/app.py ``_in_replay_slot``). The book's stored records are written to a temporary
file as they stream from ClickHouse (:func:`spool`) and the worker reads them back
lazily from its path (:func:`read_spool`): neither process holds the history in memory
(a desk's store holds millions of market records) and only a path is pickled.

The framing: :data:`MAGIC`, then per record the length of its raw bytes and of its
source's UTF-8 (two little-endian unsigned 32-bit integers), the raw bytes and the
source. A raw record may hold newlines, NUL or any byte: it comes back exactly.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from greekstream.history.replay_io import Record

MAGIC = b"GSSPOOL1"
_HEAD = struct.Struct("<II")
BUFFER = 1 << 20  # bytes a spool file is read or written at a time


class SpoolTimeout(Exception):
    """The records were not all spooled by the deadline."""


class SpoolTooLarge(Exception):
    """The records are more than the spool may hold (``max_bytes``)."""

    def __init__(self, count: int, max_bytes: int) -> None:
        super().__init__(f"over {max_bytes} bytes after {count} records")
        self.max_bytes = max_bytes


class SpoolError(ValueError):
    """A file that is not a whole spool (another file, or cut short)."""


def spool(records: Iterable[Record], out: BinaryIO, deadline: float | None = None,
          max_bytes: int | None = None) -> int:
    """Write ``records`` to ``out`` as they come; the number written. Past ``deadline``
    (``time.monotonic()``, checked before each record) stop with :class:`SpoolTimeout`;
    before the file would grow past ``max_bytes``, with :class:`SpoolTooLarge`."""
    out.write(MAGIC)
    count, size = 0, len(MAGIC)
    limit = max_bytes if max_bytes is not None else -1
    for raw, source in records:
        if deadline is not None and time.monotonic() > deadline:
            raise SpoolTimeout(f"{count} records spooled by the deadline")
        text = source.encode("utf-8", "surrogatepass")
        size += _HEAD.size + len(raw) + len(text)
        if size > limit >= 0:
            raise SpoolTooLarge(count, limit)
        out.write(_HEAD.pack(len(raw), len(text)))
        out.write(raw)
        out.write(text)
        count += 1
    return count


def read_spool(path: str | Path) -> Iterator[Record]:
    """The records of the spool file at ``path``, in order, one at a time."""
    with open(path, "rb", buffering=BUFFER) as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise SpoolError(f"{path} is not a spool of records")
        while head := f.read(_HEAD.size):
            if len(head) < _HEAD.size:
                raise SpoolError(f"{path} ends inside a record's lengths")
            raw_len, source_len = _HEAD.unpack(head)
            body = f.read(raw_len + source_len)
            if len(body) < raw_len + source_len:
                raise SpoolError(f"{path} ends inside a record")
            yield body[:raw_len], body[raw_len:].decode("utf-8", "surrogatepass")
