"""Embedded runtime without Kafka: write a replay to history, read records back from it.

``greekstream replay EVENTS --history DSN`` stores as it goes with :class:`HistoryStream`;
``greekstream replay --from-history DSN`` calls :func:`read_records_from_history`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel

from greekstream.errors import HistoryQueryError
from greekstream.history.client import History, connect, wrap
from greekstream.history.migrate import migrate
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

    def close(self) -> None:
        try:
            self.writer.flush()
        finally:
            self.history.close()

    def __enter__(self) -> HistoryStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
            "inverted time range: --from is after --to", hint="swap --from and --to"
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
        raise HistoryQueryError(
            f"unknown book {book!r}: no events of it in {history.target}",
            hint="list books with `greekstream history books DSN`",
        )


def iter_raw(
    history: History,
    book: str | None = None,
    t_from: int | None = None,
    t_to: int | None = None,
) -> Iterator[Record]:
    """Stored input records in replay order (each stored record once)."""
    where, params = time_filter(t_from, t_to)
    if book is not None:
        where += " AND (book = {book:String} OR book = '')"
        params["book"] = book
    sql = (
        f"SELECT raw, source FROM raw_events WHERE {where} "
        "ORDER BY arrival_ts, stream, partition, seq, record_key LIMIT 1 BY record_key"
    )
    with (
        wrap(f"reading raw events from {history.target} failed"),
        history.client.query_rows_stream(sql, parameters=params) as stream,
    ):
        for raw, source in stream:
            yield (raw.encode() if isinstance(raw, str) else raw), source


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
