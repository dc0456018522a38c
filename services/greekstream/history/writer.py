"""HistoryWriter: events in, batches out to ClickHouse. No Kafka here.

The sink and the embedded replay both feed it. Models (embedded replay) are buffered
as columns and inserted with ``column_oriented=True``. JSON outputs (the Kafka sink)
of the types whose fields are their table's columns are not parsed in Python: the
bytes, each with its ``seq`` spliced in front, are inserted as ``JSONEachRow`` and
ClickHouse parses them (several times faster than JSON → rows → columns here). A
failed flush keeps every buffered row, so the caller can retry the same batch (same
dedup token).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

from greekstream.core.events import encode
from greekstream.errors import HistoryError
from greekstream.history.client import History
from greekstream.history.rows import (
    ALL_TABLES,
    OUTPUT_CHAIN,
    OUTPUT_TABLES,
    RAW,
    Row,
    chain_row,
    output_row,
    raw_row,
)


class ColumnBuffer:
    """Rows of one table, kept as one list per column."""

    def __init__(self, width: int) -> None:
        self.columns: list[list[Any]] = [[] for _ in range(width)]
        self.rows = 0

    def append(self, row: Row) -> None:
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)
        self.rows += 1


# Output types whose JSON keys are their table's columns (times as RFC 3339 strings):
# ClickHouse maps them itself. The others need a row builder (rows.py).
JSON_EACH_ROW = frozenset(("exposure", "breach", "hedge_intent", "pnl"))
_TYPE_PREFIX = b'{"type":"'


_KNOWN = {kind.encode(): kind for kind in OUTPUT_TABLES}
# type as bytes -> (type, table) for the JSONEachRow path
_JSON_ROUTE = {kind.encode(): (kind, OUTPUT_TABLES[kind].name) for kind in JSON_EACH_ROW}


def sniff_type(body: bytes) -> str | None:
    """An output's type from its first key, as the engine encodes it (no JSON parse);
    None when the first key is not a known type."""
    if body.startswith(_TYPE_PREFIX):
        return _KNOWN.get(body[9:body.find(b'"', 9)])
    return None


DAYS_PER_INSERT = 90  # ClickHouse refuses an insert touching > 100 partitions (days)
_DAY_US = 86_400_000_000


def by_days(columns: list[list[Any]], ts_index: int,
            days: int = DAYS_PER_INSERT) -> list[list[list[Any]]]:
    """The buffer as one block, or (a backfill of a long history) blocks of rows of at
    most ``days`` distinct UTC days each, rows kept in order within a day."""
    day_of = [ts // _DAY_US for ts in columns[ts_index]]
    distinct = sorted(set(day_of))
    if len(distinct) <= days:
        return [columns]
    block_of = {d: i // days for i, d in enumerate(distinct)}
    blocks: list[list[int]] = [[] for _ in range(block_of[distinct[-1]] + 1)]
    for row, day in enumerate(day_of):
        blocks[block_of[day]].append(row)
    return [[[col[r] for r in rows] for col in columns] for rows in blocks]


class HistoryWriter:
    def __init__(self, history: History) -> None:
        self.history = history
        self.buffers = {t.name: ColumnBuffer(len(t.columns)) for t in ALL_TABLES}
        self.json: dict[str, list[bytes]] = {t.name: [] for t in ALL_TABLES}
        self._pending = 0
        self.clocks: dict[tuple[str, int], int] = {}
        self.clock_floor = 0  # arrival_ts of new streams starts here (HistoryStream.append)
        self.flushes = 0

    @property
    def pending(self) -> int:
        """Rows buffered (kept as a count: the sink asks after every record)."""
        return self._pending

    def _count(self) -> int:
        return (sum(b.rows for b in self.buffers.values())
                + sum(len(lines) for lines in self.json.values()))

    def add_record(self, raw: bytes | str, source: str) -> None:
        """One input record as it arrived (valid or not)."""
        row = raw_row(raw, source, self.clocks, self.clock_floor)
        self.buffers[RAW.name].append(row)
        self._pending += 1

    def add_output(self, event: BaseModel, seq: int) -> None:
        """An output model from the engine; ``seq`` is its index in the engine's output."""
        kind = getattr(event, "type", None)
        if kind not in OUTPUT_TABLES:
            raise HistoryError(f"cannot store output of type {kind!r}")
        body = encode(event)
        row = output_row(kind, event.__dict__, lambda: body, seq)
        self.buffers[OUTPUT_TABLES[kind].name].append(row)
        self._pending += 1
        self._chain(event.__dict__, body, seq)

    def add_output_json(self, body: bytes, seq: int) -> str | None:
        """An output event as JSON (from a Kafka output topic, ``seq`` its offset);
        returns its type, or None for a type history does not store."""
        if body[:9] == _TYPE_PREFIX and body[-1:] == b"}":  # the hot path: no parsing here
            route = _JSON_ROUTE.get(body[9:body.find(b'"', 9)])
            if route is not None:
                self.json[route[1]].append(b'{"seq":%d,' % seq + body[1:])
                self._pending += 1
                self._chain(orjson.loads(body), body, seq)  # its hash-chain link, parsed
                return route[0]
        obj = orjson.loads(body)
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind not in OUTPUT_TABLES:
            return None
        self.add_output_row(str(kind), obj, body, seq)
        return str(kind)

    def add_output_row(self, kind: str, obj: dict[str, Any], body: bytes, seq: int) -> None:
        """A parsed JSON output through its Python row builder (rows.py)."""
        self.buffers[OUTPUT_TABLES[kind].name].append(output_row(kind, obj, lambda: body, seq))
        self._pending += 1
        self._chain(obj, body, seq)

    def _chain(self, fields: Any, body: bytes, seq: int) -> None:
        row = chain_row(fields, body, seq)
        if row is not None:
            self.buffers[OUTPUT_CHAIN.name].append(row)
            self._pending += 1

    def flush(self, token: str | None = None) -> int:
        """Insert every buffered row; on failure nothing is dropped (raises HistoryError)."""
        try:
            self._insert_all(token)
        finally:
            written = self._pending - self._count()
            self._pending -= written
        self.flushes += 1
        return written

    def _insert_all(self, token: str | None) -> None:
        for table in ALL_TABLES:
            buffer = self.buffers[table.name]
            if buffer.rows:
                day_column = "arrival_ts" if "arrival_ts" in table.columns else "ts"  # partitions
                parts = by_days(buffer.columns, table.columns.index(day_column))
                for n, columns in enumerate(parts):
                    part_token = (f"{token}:{table.name}" + (f":{n}" if n else "")
                                  if token else None)
                    self.history.insert(table.name, columns, table.columns, token=part_token)
                self.buffers[table.name] = ColumnBuffer(len(table.columns))
            lines = self.json[table.name]
            if lines:
                part_token = f"{token}:{table.name}:json" if token else None
                self.history.insert_json(table.name, b"\n".join(lines), table.columns,
                                         token=part_token)
                self.json[table.name] = []
