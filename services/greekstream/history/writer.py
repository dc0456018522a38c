"""HistoryWriter: events in, column-oriented batches out to ClickHouse. No Kafka here.

The sink and the embedded replay both feed it; it buffers rows per table as
columns and inserts them with ``column_oriented=True``. A failed flush keeps
every buffered row, so the caller can retry the same batch (same dedup token).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import BaseModel

from greekstream.core.events import encode
from greekstream.errors import HistoryError
from greekstream.history.client import History
from greekstream.history.rows import ALL_TABLES, OUTPUT_TABLES, RAW, Row, output_row, raw_row


class ColumnBuffer:
    """Rows of one table, kept as one list per column."""

    def __init__(self, width: int) -> None:
        self.columns: list[list[Any]] = [[] for _ in range(width)]
        self.rows = 0

    def append(self, row: Row) -> None:
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)
        self.rows += 1


class HistoryWriter:
    def __init__(self, history: History) -> None:
        self.history = history
        self.buffers = {t.name: ColumnBuffer(len(t.columns)) for t in ALL_TABLES}
        self.clocks: dict[tuple[str, int], int] = {}
        self.flushes = 0

    @property
    def pending(self) -> int:
        return sum(b.rows for b in self.buffers.values())

    def add_record(self, raw: bytes | str, source: str) -> None:
        """One input record as it arrived (valid or not)."""
        row = raw_row(raw, source, self.clocks)
        self.buffers[RAW.name].append(row)

    def add_records(self, records: Iterable[tuple[bytes, str]]) -> None:
        for raw, source in records:
            self.add_record(raw, source)

    def add_output(self, event: BaseModel, seq: int) -> None:
        """An output model from the engine; ``seq`` is its index in the engine's output."""
        kind = getattr(event, "type", None)
        if kind not in OUTPUT_TABLES:
            raise HistoryError(f"cannot store output of type {kind!r}")
        row = output_row(kind, event.__dict__, lambda: encode(event), seq)
        self.buffers[OUTPUT_TABLES[kind].name].append(row)

    def add_output_json(self, body: bytes, seq: int) -> str | None:
        """An output event as JSON (from a Kafka output topic, ``seq`` its offset);
        returns its type, or None for a type history does not store."""
        obj = orjson.loads(body)
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind not in OUTPUT_TABLES:
            return None
        row = output_row(kind, obj, lambda: body, seq)
        self.buffers[OUTPUT_TABLES[kind].name].append(row)
        return str(kind)

    def flush(self, token: str | None = None) -> int:
        """Insert every buffered row; on failure nothing is dropped (raises HistoryError)."""
        written = 0
        for table in ALL_TABLES:
            buffer = self.buffers[table.name]
            if not buffer.rows:
                continue
            part_token = f"{token}:{table.name}" if token else None
            self.history.insert(table.name, buffer.columns, table.columns, token=part_token)
            written += buffer.rows
            self.buffers[table.name] = ColumnBuffer(len(table.columns))
        self.flushes += 1
        return written
