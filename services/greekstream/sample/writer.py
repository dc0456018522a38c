"""Blocks of events as columns, merged into one time-ordered JSONL stream.

A :class:`Block` holds one kind of event as columns (Python lists, cheap to index)
with an event-time array. :func:`write_events` merges every block by
(ts, priority, block, row) — a total order, so the output is deterministic — gives
each event a sequential ``event_id`` and writes one compact JSON object per line.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import orjson

from greekstream.runtime.progress import Progress
from greekstream.runtime.whole_file import replacing

# Within one timestamp: definitions first, then prices, then what depends on them.
PRIORITY = {
    "instrument": 0, "index": 1, "quote": 2, "limits": 3, "collateral": 4, "loan": 5,
    "lp_position": 6, "margin": 7, "trade": 8, "reorg": 9, "funding": 10,
}


@dataclass
class Block:
    type: str
    ts: npt.NDArray[np.int64]
    columns: Mapping[str, Sequence[Any]]
    const: dict[str, Any] = field(default_factory=dict)
    sparse: bool = False  # drop None values per row (optional fields)

    def __post_init__(self) -> None:
        self.ts = np.asarray(self.ts, dtype=np.int64)
        for name, col in self.columns.items():
            if len(col) != len(self.ts):
                raise ValueError(f"{self.type}.{name}: {len(col)} values for {len(self.ts)} events")

    def __len__(self) -> int:
        return len(self.ts)

    def row(self, i: int) -> dict[str, Any]:
        row = dict(self.const)
        if self.sparse:
            for name, col in self.columns.items():
                if col[i] is not None:
                    row[name] = col[i]
        else:
            for name, col in self.columns.items():
                row[name] = col[i]
        return row


def ts_strings(ts_us: npt.NDArray[np.int64]) -> list[str]:
    """RFC 3339 UTC with milliseconds ("2026-03-02T00:00:05.250Z"), vectorised."""
    text = np.datetime_as_string(ts_us.astype("datetime64[us]"), unit="ms")
    return [f"{s}Z" for s in text.tolist()]


def merged_order(blocks: list[Block]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(block index, row index) of every event in output order."""
    which = np.concatenate([np.full(len(b), k, np.int64) for k, b in enumerate(blocks)])
    rows = np.concatenate([np.arange(len(b), dtype=np.int64) for b in blocks])
    ts = np.concatenate([b.ts for b in blocks])
    prio = np.concatenate([np.full(len(b), PRIORITY[b.type], np.int64) for b in blocks])
    order = np.lexsort((rows, which, prio, ts))
    return which[order], rows[order]


def render(blocks: list[Block], id_prefix: str) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Yield (JSON line without newline, its dict) for every event in output order."""
    which, rows = merged_order(blocks)
    stamps = ts_strings(np.concatenate([b.ts for b in blocks])[_flat_index(blocks, which, rows)])
    dumps = orjson.dumps
    for n, (k, i) in enumerate(zip(which.tolist(), rows.tolist(), strict=True)):
        block = blocks[k]
        event = {"type": block.type, "event_id": f"{id_prefix}-{n}", "ts": stamps[n]}
        event.update(block.row(i))
        yield dumps(event), event


def _flat_index(blocks: list[Block], which: npt.NDArray[np.int64],
                rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    offsets = np.cumsum([0] + [len(b) for b in blocks])[:-1]
    return np.asarray(offsets, dtype=np.int64)[which] + rows


def write_lines(lines: Iterator[bytes], out: BinaryIO, total: int, label: str,
                show_progress: bool) -> int:
    """Write lines (newline added) in chunks; progress on stderr for big outputs."""
    progress = Progress(label, total=total, enabled=show_progress and total >= 100_000)
    chunk: list[bytes] = []
    count = 0
    for line in lines:
        chunk.append(line)
        if len(chunk) == 8192:
            out.write(b"\n".join(chunk) + b"\n")
            progress.advance(len(chunk))
            count += len(chunk)
            chunk = []
    if chunk:
        out.write(b"\n".join(chunk) + b"\n")
        progress.advance(len(chunk))
        count += len(chunk)
    progress.total = count  # `total` may be an estimate (the market profile's)
    progress.done()
    return count


def atomic_write(path: Path, lines: Iterator[bytes], total: int, label: str,
                 show_progress: bool) -> int:
    """Write the lines to ``path`` (its directory made if missing), whole or not at all
    (:mod:`greekstream.runtime.whole_file`)."""
    make_parent(path)
    with replacing(path) as out:
        return write_lines(lines, out, total, label, show_progress)


def make_parent(path: Path) -> None:
    """Make ``path``'s directory if missing; a file in the way is "Not a directory" (mkdir
    itself says "File exists", of the file the user asked to write)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR),
                                 exc.filename) from exc
