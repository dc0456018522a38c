"""Embedded runtime without Kafka: write a replay to history, read records back from it.

``greekstream replay EVENTS --history DSN`` stores as it goes with :class:`HistoryStream`;
``greekstream replay --from-history DSN`` calls :func:`read_records_from_history`.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from greekstream.core.events import WINDOW_TICK
from greekstream.core.timeutil import format_ts
from greekstream.errors import HistoryQueryError, UnknownBookError
from greekstream.history.client import History, connect, wrap
from greekstream.history.migrate import migrate
from greekstream.history.rows import MARKET_TYPES
from greekstream.history.writer import HistoryWriter

Record = tuple[bytes, str]
BATCH_ROWS = 100_000
READ_BLOCK = 50_000


class HistoryStream:
    """Store a replay as it runs: input records and outputs in batches of ``batch_rows``
    (nothing is held beyond one batch). Migrates first; ``close`` stores the rest.

        with HistoryStream(dsn) as stream:
            replay(records, on_record=stream.add_record, on_output=stream.add_output, ...)

    Idempotent: storing the same replay twice stores each row once (dedup by key).
    """

    def __init__(self, dsn: str, batch_rows: int = BATCH_ROWS) -> None:
        self.history = connect(dsn, create=True)
        try:
            migrate(self.history)
        except BaseException:
            self.history.close()
            raise
        self.writer = HistoryWriter(self.history)
        self.batch_rows = batch_rows
        self.counts = {"records": 0, "outputs": 0}

    def plan_append(self, path: Path) -> Append:
        """How the file at ``path`` joins this store (see :class:`Append`); sets the
        arrival clock of its records after everything stored."""
        plan = plan_append(self.history, path)
        self.writer.clocks.floor = plan.clock_floor
        self.writer.clocks.market = plan.market_clock
        return plan

    def add_record(self, raw: bytes | str, source: str) -> None:
        self.writer.add_record(raw, source)
        self.counts["records"] += 1
        self._maybe_flush()

    def add_output(self, event: BaseModel) -> None:
        """One output; its seq is its index among this replay's outputs."""
        self.writer.add_output(event, self.counts["outputs"])
        self.counts["outputs"] += 1
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self.writer.pending >= self.batch_rows:
            self.writer.flush()

    def close(self, store: bool = True) -> None:
        """Store the rows still held (unless ``store`` is false) and close the store."""
        try:
            if store:
                self.writer.flush()
        finally:
            self.history.close()

    def __enter__(self) -> HistoryStream:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # a replay that failed or was interrupted stores nothing more: the rows held are
        # input records part of whose outputs never came (a chunk's records are added
        # before its outputs), so storing them left a file half stored, which a re-run
        # then stored again beside it (FILE#2) continuing from the half: outputs lost
        self.close(store=exc_type is None)


@dataclass(frozen=True)
class Append:
    """A file replayed into a store that may hold earlier inputs.

    A store fed file after file must re-derive to what was stored (``audit``), so an
    append continues the engine from the stored inputs (``prior``: replayed first,
    silently), its records arrive after them (``clock_floor``, the ``arrival_ts``
    replay order; ``market_clock``, the largest ts of the stored market records, is
    what the arrival clock compares a record dated far ahead with: rows.ArrivalClocks)
    and they are stored under a name no stored file has (``name``: FILE, else FILE#2,
    FILE#3, ...). The same file again (same first and last record
    under its name) is ``already`` stored: nothing is added.
    """

    name: str
    stored: int  # input records in the store before this file
    clock_floor: int  # µs: arrival_ts of this file's records starts here
    market_clock: int | None  # µs: the largest ts of a stored market record (None: none)
    already: bool


def _first_last(path: Path) -> tuple[int, tuple[int, bytes], tuple[int, bytes]]:
    """(count, (line, record) first, (line, record) last) of a JSONL file's non-blank
    lines, as read_records yields them."""
    from greekstream.runtime.replay import read_records

    count, first, last = 0, (0, b""), (0, b"")
    for raw, source in read_records(path):
        count += 1
        last = (int(source.rsplit(":", 1)[1]), raw)
        first = last if count == 1 else first
    return count, first, last


def plan_append(history: History, path: Path) -> Append:
    market = ("decoded AND type IN {market:Array(String)} AND NOT (type = 'tick' AND "
              "startsWith(event_id, {window:String}))")  # (rows.ArrivalClocks)
    (stored, newest, markets, latest), = history.rows(
        f"SELECT count(), toUnixTimestamp64Micro(max(arrival_ts)), countIf({market}), "
        f"toUnixTimestamp64Micro(maxIf(ts, {market})) FROM raw_events",
        {"market": sorted(MARKET_TYPES), "window": WINDOW_TICK})
    if not stored:
        return Append(path.name, 0, 0, None, False)
    market_clock = int(latest) if markets else None
    count, first, last = _first_last(path)
    suffix = 1
    while True:
        name = path.name if suffix == 1 else f"{path.name}#{suffix}"
        (n, head, tail), = history.rows(  # (in hex: a record need not be UTF-8)
            "SELECT count(), hex(anyIf(raw, seq = {first:Int64})), "
            "hex(anyIf(raw, seq = {last:Int64})) FROM raw_events WHERE stream = {name:String}",
            {"name": name, "first": first[0], "last": last[0]})
        if not n:
            return Append(name, int(stored), int(newest) + 1, market_clock, False)
        if (count and n >= count and bytes.fromhex(head) == first[1]
                and bytes.fromhex(tail) == last[1] and _stored_whole(history, name, path)):
            return Append(name, int(stored), int(newest) + 1, market_clock, True)
        suffix += 1


def _stored_whole(history: History, name: str, path: Path) -> bool:
    """Whether stream ``name`` holds exactly the records of the file at ``path``, line for
    line: its first and last records alone did not say (a file edited in the middle, of
    the same name, was taken as stored and its edit dropped without a word). The stored
    records are streamed back once, in line order, beside the file's."""
    from greekstream.runtime.replay import read_records

    mine = ((int(source.rsplit(":", 1)[1]), raw) for raw, source in read_records(path))
    with (wrap(f"reading raw events from {history.target} failed"),
          history.client.query_rows_stream(
              "SELECT seq, raw FROM raw_events WHERE stream = {name:String} "
              "ORDER BY seq LIMIT 1 BY seq", parameters={"name": name},
              column_formats={"raw": "bytes"}) as stream):
        finished = False
        try:
            for row, ours in itertools.zip_longest(stream, mine):
                if row is None or ours is None:
                    return False  # (a shorter stream is not "already" stored either)
                seq, raw = row
                if (int(seq), raw.encode() if isinstance(raw, str) else raw) != ours:
                    return False
            finished = True
        finally:
            if not finished:
                abandon(stream)
    return True


def write_replay(
    dsn: str,
    records: Iterable[Record],
    outputs: Iterable[BaseModel],
    batch_rows: int = BATCH_ROWS,
) -> dict[str, int]:
    """Store every input record and every output of a finished replay; migrates first.

    Idempotent: writing the same replay twice stores each row once (dedup by key).
    Returns rows written per kind.
    """
    with HistoryStream(dsn, batch_rows) as stream:
        for raw, source in records:
            stream.add_record(raw, source)
        for event in outputs:
            stream.add_output(event)
    return stream.counts


def time_filter(
    t_from: int | None, t_to: int | None, column: str = "ts"
) -> tuple[str, dict[str, Any]]:
    """A WHERE fragment for [t_from, t_to] (epoch µs, inclusive), or raise on an inverted range."""
    if t_from is not None and t_to is not None and t_from > t_to:
        raise HistoryQueryError(
            f"inverted time range: from {format_ts(t_from)} is after to {format_ts(t_to)}",
            hint="swap them (--from and --to, or the from and to query parameters)",
        )
    parts, params = ["1"], {}
    if t_from is not None:
        parts.append(f"{column} >= fromUnixTimestamp64Micro({{t_from:Int64}}, 'UTC')")
        params["t_from"] = t_from
    if t_to is not None:
        parts.append(f"{column} <= fromUnixTimestamp64Micro({{t_to:Int64}}, 'UTC')")
        params["t_to"] = t_to
    return " AND ".join(parts), params


def known_books(history: History) -> set[str]:
    rows = history.rows("SELECT DISTINCT book FROM raw_events WHERE book != ''")
    rows += history.rows("SELECT DISTINCT book FROM exposures")
    return {r[0] for r in rows}


def require_book(history: History, book: str | None) -> None:
    if book is not None and book not in known_books(history):
        raise UnknownBookError(
            f"unknown book {book!r}: no events of it in {history.target}",
            hint="list books with `greekstream history books DSN`",
        )


# the order a replay applies stored input records in (docs/history.md *Order*)
REPLAY_ORDER = "arrival_ts, stream, partition, seq, record_key"


def iter_raw(
    history: History,
    book: str | None = None,
    t_from: int | None = None,
    t_to: int | None = None,
    max_seconds: float | None = None,
    books: Collection[str] | None = None,
) -> Iterator[Record]:
    """Stored input records in replay order (each stored record once): the market's and
    those of ``book`` (or of ``books``), or every record. With ``max_seconds`` ClickHouse
    stops the query past it (``max_execution_time``: a HistoryError), even before the
    first row (the sort)."""
    where, params = time_filter(t_from, t_to)
    if book is not None:
        where += " AND (book = {book:String} OR book = '')"
        params["book"] = book
    if books is not None:
        where += " AND (has({books:Array(String)}, book) OR book = '')"
        params["books"] = sorted(books)
    settings = {"max_execution_time": max_seconds} if max_seconds is not None else None
    sql = (
        f"SELECT raw, source FROM raw_events WHERE {where} "
        f"ORDER BY {REPLAY_ORDER} LIMIT 1 BY record_key"
    )
    with (
        wrap(f"reading raw events from {history.target} failed"),
        # ``raw`` as its bytes: decoded, a record that is not UTF-8 would come back as
        # its hex (clickhouse-connect's fallback), not as what the engine saw
        history.client.query_rows_stream(sql, parameters=params, settings=settings,
                                         column_formats={"raw": "bytes"}) as stream,
    ):
        finished = False
        try:
            for raw, source in stream:
                yield (raw.encode() if isinstance(raw, str) else raw), source
            finished = True
        finally:
            if not finished:  # the reader stopped early (a limit, a deadline, an error)
                abandon(stream)


def abandon(stream: Any) -> None:
    """Make a result stream left unread end at once. Over HTTP, clickhouse-connect's
    close reads the rest of the response to keep the connection (``ResponseSource``):
    for a result of GBs that is the whole transfer, minutes after the caller gave up,
    holding its connection and thread. Shutting the socket's read side first turns that
    drain into an immediate end of stream; the connection is dropped, not pooled, and
    the server stops the query when its next write fails. On chDB (no HTTP response)
    nothing is needed: closing the stream cancels it."""
    response = getattr(getattr(stream, "source", None), "response", None)
    shutdown = getattr(response, "shutdown", None)
    if shutdown is not None:
        with suppress(Exception):  # released already, or no socket: the close drains as before
            shutdown()


def read_records_from_history(
    dsn: str, book: str | None = None, t_from: int | None = None, t_to: int | None = None
) -> Iterator[Record]:
    """(raw bytes, source) of every stored input record in replay order.

    With ``book``, the records of that book plus market data and reorgs (which is all
    a book's outputs depend on). ``t_from`` drops earlier records: replaying from the
    middle of history loses the state built before it, so audits start from the beginning.
    """
    history = connect(dsn)
    try:
        require_book(history, book)
        yield from iter_raw(history, book, t_from, t_to)
    finally:
        history.close()
