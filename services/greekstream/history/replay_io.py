"""Embedded runtime without Kafka: write a replay to history, read records back from it.

``greekstream replay EVENTS --history DSN`` calls :func:`write_replay`;
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


def write_replay(
    dsn: str,
    records: Iterable[Record],
    outputs: Iterable[BaseModel],
    batch_rows: int = BATCH_ROWS,
) -> dict[str, int]:
    """Store every input record and every output of a replay; migrates first.

    Idempotent: writing the same replay twice stores each row once (dedup by key).
    Returns rows written per kind.
    """
    with connect(dsn, create=True) as history:
        migrate(history)
        writer = HistoryWriter(history)
        counts = {"records": 0, "outputs": 0}
        for raw, source in records:
            writer.add_record(raw, source)
            counts["records"] += 1
            if writer.pending >= batch_rows:
                writer.flush()
        for seq, event in enumerate(outputs):
            writer.add_output(event, seq)
            counts["outputs"] += 1
            if writer.pending >= batch_rows:
                writer.flush()
        writer.flush()
    return counts


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
