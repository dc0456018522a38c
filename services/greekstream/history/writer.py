"""HistoryWriter: events in, batches out to ClickHouse. No Kafka here.

The sink and the embedded replay both feed it. Models (embedded replay) are buffered
as columns and inserted with ``column_oriented=True``. JSON outputs (the Kafka sink)
of the types whose fields are their table's columns are not turned into rows in Python:
the bytes, each with its ``seq`` spliced in front, are inserted as ``JSONEachRow`` and
ClickHouse parses them (several times faster than JSON → rows → columns here). A
failed flush keeps every buffered row, so the caller can retry the same batch (same
dedup token). Each output's hash-chain row is inserted before its table row (the chain
is the record of truth: docs/history.md#quarantine).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import BaseModel

from greekstream.core.events import encode
from greekstream.errors import HistoryError
from greekstream.history.client import History, refused_for_data, too_many_partitions
from greekstream.history.rows import (
    CHECKS,
    INPUT_QUARANTINE,
    OUTPUT_CHAIN,
    OUTPUT_TABLES,
    QUARANTINE,
    RAW,
    ArrivalClocks,
    Malformed,
    Quarantined,
    Row,
    Table,
    chain_row,
    output_row,
    read_malformed,
    repeated_key,
    timed_raw_row,
    why_not_output,
)

# Where a record came from: (topic, partition, offset, its bytes); None for rows not read
# from Kafka (the embedded replay's records and models): their refusal is raised.
Origin = tuple[str, int, int, bytes] | None


class ColumnBuffer:
    """Rows of one table, kept as one list per column, with each row's origin."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.columns: list[list[Any]] = [[] for _ in range(width)]
        self.origins: list[Origin] = []
        self.rows = 0

    def append(self, row: Row, origin: Origin = None) -> None:
        if len(row) != self.width:
            raise ValueError(f"a row of {len(row)} values for {self.width} columns")
        deque(map(list.append, self.columns, row), maxlen=0)  # each value onto its column
        self.origins.append(origin)
        self.rows += 1


# Output types whose JSON keys are their table's columns (times as RFC 3339 strings):
# ClickHouse maps them itself. The others need a row builder (rows.py).
JSON_EACH_ROW = frozenset(("exposure", "breach", "hedge_intent", "pnl"))
_TYPE_PREFIX = b'{"type":"'
# their time fields: ClickHouse's parser refuses an RFC 3339 time written with a lower-case
# "t" or "z" (Code 41), which the contract and the checks take (core/timeutil.parse_ts),
# and one holding a JSON escape ("\u005A" for "Z": it reads the bytes, Code 27)
_JSON_TIMES = {"exposure": ("ts",), "breach": ("ts",), "hedge_intent": ("ts", "expires_at"),
               "pnl": ("ts",)}


def clickhouse_reads_times(kind: str, obj: dict[str, Any], body: bytes) -> bool:
    """Whether ClickHouse reads the (checked) times of a JSON_EACH_ROW output as
    parse_ts does: not when one is written with a lower-case "t" or "z", nor when the
    record holds an escape (its row is then built in Python). Nor a hedge intent without
    its ``basis`` (absent or null): ClickHouse would store '', the builder the engine's
    default, ``positions``."""
    if b"\\" in body or (kind == "hedge_intent" and type(obj.get("basis")) is not str):
        return False
    for name in _JSON_TIMES[kind]:
        value = obj.get(name)
        if value is not None and (value[10] != "T" or value[-1] == "z"):
            return False
    return True


_KNOWN = {kind.encode(): kind for kind in OUTPUT_TABLES}


def sniff_type(body: bytes) -> str | None:
    """An output's type from its first key, as the engine encodes it (no JSON parse);
    None when the first key is not a known type."""
    if body.startswith(_TYPE_PREFIX):
        return _KNOWN.get(body[9:body.find(b'"', 9)])
    return None


DAYS_PER_INSERT = 90  # ClickHouse refuses an insert touching > 100 partitions (days)
_DAY_US = 86_400_000_000


def day_blocks(columns: list[list[Any]], ts_index: int,
               days: int = DAYS_PER_INSERT) -> list[list[int]] | None:
    """None when the buffer's rows span at most ``days`` distinct UTC days (one insert);
    else (a backfill of a long history) the row numbers of each block of at most ``days``
    days, rows kept in order within a day."""
    day_of = [ts // _DAY_US for ts in columns[ts_index]]
    distinct = sorted(set(day_of))
    if len(distinct) <= days:
        return None
    block_of = {d: i // days for i, d in enumerate(distinct)}
    blocks: list[list[int]] = [[] for _ in range(block_of[distinct[-1]] + 1)]
    for row, day in enumerate(day_of):
        blocks[block_of[day]].append(row)
    return blocks


# A refused row: its origin and ClickHouse's reason
Refusal = tuple[tuple[str, int, int, bytes], str]
QUARANTINES = (QUARANTINE, INPUT_QUARANTINE)
# what the writer flushes, in order. Each output's hash-chain row goes before its table
# row: a refused chain row takes its record's table row out of the batch (the record is
# quarantined, nothing of it stored), whereas a table row stored before a refused chain
# row would stay without its audit row. The quarantines go last (they take the refused
# rows).
TABLES = (RAW, OUTPUT_CHAIN, *OUTPUT_TABLES.values(), *QUARANTINES)


class HistoryWriter:
    """Buffers rows and inserts them. An output record from Kafka that cannot become its
    rows is quarantined (``output_quarantine``): one that fails the checks of rows.py
    (or writes a key twice) before it is buffered, and one ClickHouse refuses at insert
    (the refused insert is split in halves until the refused rows are alone; the others
    go in). An input record from Kafka whose row ClickHouse refuses is quarantined the
    same way (``input_quarantine``). Quarantined records are reported once stored:
    :meth:`take_quarantined`."""

    def __init__(self, history: History, max_ts_ahead_s: float | None = None,
                 resume_streams: bool = False) -> None:
        """``max_ts_ahead_s``: the engine's (None: the processors' engine settings,
        settings.engine_settings()); a record dated more than that past the market clock
        moves no arrival clock (rows.ArrivalClocks). ``resume_streams``: each stream's
        arrival clock continues the one stored before its first record (the sink:
        :meth:`_resume`)."""
        if max_ts_ahead_s is None:
            from greekstream.settings import engine_settings

            max_ts_ahead_s = engine_settings().max_ts_ahead_s
        self.history = history
        self.buffers = {t.name: ColumnBuffer(len(t.columns)) for t in TABLES}
        self.json: dict[str, list[bytes]] = {t.name: [] for t in TABLES}
        self.json_origins: dict[str, list[Origin]] = {t.name: [] for t in TABLES}
        self._pending = 0
        # each stream's arrival clock; a new stream's starts at clocks.floor (an append)
        self.clocks = ArrivalClocks(max_ts_ahead_s)
        self.flushes = 0
        # per quarantine table: its buffered entries, not yet stored
        self._held: dict[str, list[Quarantined]] = {t.name: [] for t in QUARANTINES}
        self._stored: list[Quarantined] = []  # stored, not yet taken
        self.resume_streams = resume_streams
        self._resumed: set[tuple[str, int]] = set()  # streams whose clock was read
        # per stream not resumed yet: the seq of its first buffered record, and each of
        # its RAW rows (row number, whether its ts is its own)
        self._unresumed: dict[tuple[str, int], tuple[int, list[tuple[int, bool]]]] = {}

    @property
    def pending(self) -> int:
        """Rows buffered (kept as a count: the sink asks after every record)."""
        return self._pending

    def _count(self) -> int:
        return (sum(b.rows for b in self.buffers.values())
                + sum(len(lines) for lines in self.json.values()))

    def add_record(self, raw: bytes | str, source: str, origin: Origin = None) -> None:
        """One input record as it arrived (valid or not); ``origin`` where in Kafka it was
        read (a row ClickHouse refuses is then quarantined, not raised)."""
        row, timed = timed_raw_row(raw, source, self.clocks)
        buffer = self.buffers[RAW.name]
        if self.resume_streams:
            stream = (row[_STREAM], row[_PARTITION])
            if stream not in self._resumed:
                self._unresumed.setdefault(stream, (row[_SEQ], []))[1].append(
                    (buffer.rows, timed))
        buffer.append(row, origin)
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
        self._chain(event.__dict__, body, seq, None)

    def add_output_json(self, body: bytes, seq: int, topic: str = "",
                        partition: int = 0) -> str | Quarantined:
        """An output event as JSON (from a Kafka output topic: ``seq`` its offset in
        ``topic``/``partition``); returns its type, or the record's quarantine entry when
        it cannot be stored as its rows (buffered for the quarantine table instead)."""
        try:
            obj: Any = orjson.loads(body)
            kind: Any = obj.get("type") if type(obj) is dict else ""
            check = CHECKS.get(kind) if type(kind) is str else None
        except orjson.JSONDecodeError:
            check = None
        if check is None:
            bad: Malformed | None = why_not_output(body)
        else:  # a key written twice as well (one count of its commas, mostly: rows.py)
            bad = check(obj) or repeated_key(body, obj)
        if bad is not None:
            return self.quarantine(topic, partition, seq, body, bad)
        origin = (topic, partition, seq, body)
        table = OUTPUT_TABLES[kind].name
        if (kind in JSON_EACH_ROW and body[:9] == _TYPE_PREFIX and body[-1:] == b"}"
                and clickhouse_reads_times(kind, obj, body)):
            # the hot path: ClickHouse parses the JSON (its fields are the columns)
            self.json[table].append(b'{"seq":%d,' % seq + body[1:])
            self.json_origins[table].append(origin)
        else:
            try:
                row = output_row(kind, obj, lambda: body, seq)
            except Exception as exc:  # a shape its checks let through: quarantined
                why = Malformed("unbuildable", f"{type(exc).__name__}: {exc}"[:300])
                return self.quarantine(topic, partition, seq, body, why)
            self.buffers[table].append(row, origin)
        self._pending += 1
        self._chain(obj, body, seq, origin)
        return str(kind)

    def add_output_row(self, kind: str, obj: dict[str, Any], body: bytes, seq: int) -> None:
        """A parsed JSON output through its Python row builder (rows.py)."""
        self.buffers[OUTPUT_TABLES[kind].name].append(output_row(kind, obj, lambda: body, seq))
        self._pending += 1
        self._chain(obj, body, seq, None)

    def quarantine(self, topic: str, partition: int, offset: int, body: bytes,
                   why: Malformed, table: Table = QUARANTINE) -> Quarantined:
        """Buffer a record for its quarantine table: an output record for
        ``output_quarantine`` (nothing else of it is stored, unless ClickHouse refused its
        table row after its chain row was stored), an input record for
        ``input_quarantine`` (no raw_events row)."""
        obj, _ = read_malformed(body)
        fields = obj if isinstance(obj, dict) else {}
        entry = Quarantined(topic, partition, offset, _str(fields.get("type")),
                            _str(fields.get("event_id")), why.reason, why.message, body)
        self.buffers[table.name].append(tuple(entry))
        self._held[table.name].append(entry)
        self._pending += 1
        return entry

    def take_quarantined(self) -> list[Quarantined]:
        """The records quarantined and stored since the last call."""
        taken, self._stored = self._stored, []
        return taken

    def _chain(self, fields: Any, body: bytes, seq: int, origin: Origin = None) -> None:
        row = chain_row(fields, body, seq)
        if row is not None:
            self.buffers[OUTPUT_CHAIN.name].append(row, origin)
            self._pending += 1

    def flush(self, token: str | None = None) -> int:
        """Insert every buffered row; on failure nothing is dropped (raises HistoryError).
        Rows ClickHouse refuses for their data are quarantined, the others stored."""
        try:
            self._insert_all(token)
        finally:
            written = self._pending - self._count()
            self._pending -= written
        self.flushes += 1
        return written

    def forget(self, streams: list[tuple[str, int]]) -> None:
        """Read the clocks of ``streams`` from the store again when they come back (the
        sink: partitions revoked, whose records another sink may store meanwhile). None
        of their rows may be buffered."""
        for stream in streams:
            self._resumed.discard(stream)
            self.clocks.streams.pop(stream, None)

    def _resume(self) -> None:
        """Continue the arrival clock of each stream met since it was last read from the
        store (``resume_streams``): the clock before its first buffered record is the
        largest ``arrival_ts`` stored of its earlier records, and its buffered rows are
        moved up to it (a clock is a running max, so starting it there gives each row
        ``max(stored clock, the row's value)``: its ``arrival_ts``, and its ``ts`` when
        the clock stands in for it). A new writer (a sink started again, or after a
        rebalance) started every clock at 0: a record read again after a crash before
        the commit was stored again under another key (``arrival_ts`` is in
        ``raw_events``' key, so the copies never collapse) and replayed at its earlier
        place, before records the processor read first; a late record or one that does
        not decode, first after a restart, was stored before the records preceding it
        (the one that does not decode in 1970). One query (a scan of ``raw_events``) for
        the batch that meets new streams; when it fails nothing is changed and the flush
        fails, to be retried as any other."""
        if not self._unresumed:
            return
        firsts = {stream: first for stream, (first, _) in self._unresumed.items()}
        stored = stored_clocks(self.history, firsts)
        columns = self.buffers[RAW.name].columns
        ts, arrival = columns[_TS], columns[_ARRIVAL]
        for stream, (_, rows) in self._unresumed.items():
            clock = stored.get(stream)
            if clock is None:
                continue
            for r, timed in rows:
                arrival[r] = max(arrival[r], clock)
                if not timed:
                    ts[r] = max(ts[r], clock)
            self.clocks.streams[stream] = max(
                self.clocks.streams.get(stream, self.clocks.floor), clock)
        self._resumed.update(self._unresumed)
        self._unresumed.clear()

    def _insert_all(self, token: str | None) -> None:
        self._resume()
        for table in TABLES:
            buffer = self.buffers[table.name]
            if buffer.rows:
                refused = self._insert_buffer(table, buffer, token)
                self.buffers[table.name] = ColumnBuffer(len(table.columns))
                if table in QUARANTINES:
                    self._stored += self._held[table.name]
                    self._held[table.name] = []
                self._refuse(table, refused)
            if self.json[table.name]:
                self._refuse(table, self._insert_lines(table, token))

    def _insert_lines(self, table: Table, token: str | None) -> list[Refusal]:
        lines = self.json[table.name]

        def insert(lo: int, hi: int, part: str | None) -> None:
            self.history.insert_json(table.name, b"\n".join(lines[lo:hi]), table.columns,
                                     token=part)

        refused: list[Refusal] = []
        _bisect(insert, 0, len(lines), f"{token}:{table.name}:json" if token else None,
                self.json_origins[table.name], refused)
        self.json[table.name], self.json_origins[table.name] = [], []
        return refused

    def _insert_buffer(self, table: Table, buffer: ColumnBuffer,
                       token: str | None) -> list[Refusal]:
        day_column = "arrival_ts" if "arrival_ts" in table.columns else "ts"  # partitions
        if "ts" not in table.columns:
            blocks = None
        else:
            blocks = day_blocks(buffer.columns, table.columns.index(day_column))
        parts = ([(buffer.columns, buffer.origins)] if blocks is None else
                 [([[col[r] for r in rows] for col in buffer.columns],
                   [buffer.origins[r] for r in rows]) for rows in blocks])
        refused: list[Refusal] = []
        for n, (columns, origins) in enumerate(parts):
            part_token = f"{token}:{table.name}" + (f":{n}" if n else "") if token else None

            def insert(lo: int, hi: int, part: str | None, columns: list[list[Any]] = columns
                       ) -> None:
                whole = lo == 0 and hi == len(columns[0])
                block = columns if whole else [col[lo:hi] for col in columns]
                self.history.insert(table.name, block, table.columns, token=part)

            _bisect(insert, 0, len(origins), part_token, origins, refused)
        return refused

    def _refuse(self, table: Table, refused: list[Refusal]) -> None:
        """Quarantine the rows ClickHouse refused for their data: an input record's in
        ``input_quarantine``; an output record's in ``output_quarantine``, with its rows
        not inserted yet dropped (refused at its chain row, which goes first, nothing of
        it is stored; refused at its table row, its chain row is stored already)."""
        if not refused:
            return
        if table is not RAW:
            self._drop({origin[:3] for origin, _ in refused})
        into = INPUT_QUARANTINE if table is RAW else QUARANTINE
        for (topic, partition, offset, body), message in refused:
            self.quarantine(topic, partition, offset, body,
                            Malformed("clickhouse_refused", message), into)
        self._pending -= len(refused)  # they were pending as rows of ``table`` already

    def _drop(self, keys: set[tuple[str, int, int]]) -> None:
        """Take the buffered rows (column buffers and JSON lines) of the records at
        ``keys`` (topic, partition, offset) out of the batch."""
        for name, buffer in self.buffers.items():
            if any(o is not None and o[:3] in keys for o in buffer.origins):
                kept = ColumnBuffer(buffer.width)
                for r, origin in enumerate(buffer.origins):
                    if origin is None or origin[:3] not in keys:
                        kept.append(tuple(col[r] for col in buffer.columns), origin)
                self._pending -= buffer.rows - kept.rows
                self.buffers[name] = kept
        for name, origins in self.json_origins.items():
            if any(o is not None and o[:3] in keys for o in origins):
                pairs = [(line, o) for line, o in zip(self.json[name], origins, strict=True)
                         if o is None or o[:3] not in keys]
                self._pending -= len(origins) - len(pairs)
                self.json[name] = [line for line, _ in pairs]
                self.json_origins[name] = [o for _, o in pairs]


_TS, _ARRIVAL, _STREAM, _PARTITION, _SEQ = map(
    RAW.columns.index, ("ts", "arrival_ts", "stream", "partition", "seq"))


# the first look for a stream's stored clock: the day of records before the latest stored
# (raw_events is partitioned by day of arrival_ts, so this reads a day or two, not the
# history); a stream with nothing stored in it is then looked for in the whole table
RESUME_WINDOW_US = 86_400 * 1_000_000


def stored_clocks(history: History, firsts: dict[tuple[str, int], int]
                  ) -> dict[tuple[str, int], int]:
    """Each stream's arrival clock stored before its record at seq ``firsts[stream]``:
    the largest ``arrival_ts`` of its stored records before it (a stream with none is
    left out). Looked for first within RESUME_WINDOW_US of the latest ``arrival_ts``
    stored (the clock is a running max, so a stream with a record there has its largest
    there), then, for the streams not found, in the whole table: the sink meets new
    streams at every start and rebalance, and a scan of a long history each time would
    hold it up."""
    latest = history.rows("SELECT toUnixTimestamp64Micro(max(arrival_ts)), count() > 0 "
                          "FROM raw_events")
    if not latest or not latest[0][1]:
        return {}
    found = _stored_clocks(history, firsts, int(latest[0][0]) - RESUME_WINDOW_US)
    rest = {stream: first for stream, first in firsts.items() if stream not in found}
    if rest:
        found.update(_stored_clocks(history, rest, None))
    return found


def _stored_clocks(history: History, firsts: dict[tuple[str, int], int], since_us: int | None
                   ) -> dict[tuple[str, int], int]:
    where, params = [], {}
    for n, ((stream, partition), first) in enumerate(sorted(firsts.items())):
        where.append(f"(stream = {{s{n}:String}} AND partition = {{p{n}:Int32}} "
                     f"AND seq < {{q{n}:Int64}})")
        params.update({f"s{n}": stream, f"p{n}": partition, f"q{n}": first})
    bound = ""
    if since_us is not None:
        bound = "arrival_ts >= fromUnixTimestamp64Micro({since:Int64}, 'UTC') AND "
        params["since"] = since_us
    rows = history.rows(
        "SELECT stream, partition, toUnixTimestamp64Micro(max(arrival_ts)) FROM raw_events "
        f"WHERE {bound}({' OR '.join(where)}) GROUP BY stream, partition", params)
    return {(str(stream), int(partition)): int(clock) for stream, partition, clock in rows}


def _bisect(insert: Callable[[int, int, str | None], None], lo: int, hi: int,
            token: str | None, origins: list[Origin], refused: list[Refusal]) -> None:
    """Insert rows lo..hi; when ClickHouse refuses them for their data, insert each half
    (its own deduplication token, derived from the batch's: a retry repeats the same
    halves), down to single rows, which are refused (collected in ``refused``). A row
    with no Kafka origin cannot be quarantined: its refusal is raised. An insert touching
    too many partitions is split the same way (no row is refused for it)."""
    try:
        insert(lo, hi, token)
    except HistoryError as exc:
        for_data = refused_for_data(exc)
        if not for_data and not too_many_partitions(exc):
            raise
        if hi - lo == 1:
            origin = origins[lo]
            if origin is None or not for_data:
                raise
            refused.append((origin, str(exc).split(": ", 1)[-1][:400]))
            return
        mid = (lo + hi) // 2
        for a, b in ((lo, mid), (mid, hi)):
            _bisect(insert, a, b, token and f"{token}/{a}-{b}", origins, refused)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
