"""As-of exposures from history.

:func:`exposures_as_of` is exact: it replays the stored raw events up to the as-of
time through the same engine, so it gives the numbers `greekstream replay --as-of`
gives on the same events. :func:`stored_exposures_as_of` is the fast path for
analytics: the latest stored exposure event at or before the time (argMax, using
the hourly and per-minute rollups so it never scans raw history).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from greekstream.core.books import EXPOSURE_METRICS, EXPOSURE_VALUES, ExposureValues
from greekstream.core.engine import EngineConfig
from greekstream.core.timeutil import format_ts
from greekstream.errors import HistoryQueryError
from greekstream.history.client import History
from greekstream.history.migrate import require_schema
from greekstream.history.replay_io import iter_raw, require_book
from greekstream.runtime.replay import Record, replay

# The raw_events rows of input records the engine accepted: decoded, and not rejected
# (a rejection's source is its record's: ``topic/partition/offset`` or ``file:line``)
ACCEPTED = "decoded AND source NOT IN (SELECT source FROM rejections)"


def history_span(history: History) -> tuple[int, int] | None:
    """(first, last) ts of the input records the engine accepted, or None when there is
    none: a record it rejected (a trade mistyped as 2099: ``ts_ahead``) changed nothing,
    so history does not end there (the dashboard's as-of, ``history status``)."""
    rows = history.rows(
        "SELECT toUnixTimestamp64Micro(min(ts)), toUnixTimestamp64Micro(max(ts)), count() "
        f"FROM raw_events WHERE {ACCEPTED}"
    )
    if not rows or not rows[0][2]:
        return None
    return int(rows[0][0]), int(rows[0][1])


def check_as_of(history: History, as_of_us: int, label: str = "as-of") -> None:
    """Refuse a time before the first stored input event (``label`` names the argument)."""
    span = history_span(history)
    if span is None:
        raise HistoryQueryError(
            f"no input events stored in {history.target}",
            hint="write some with `greekstream replay EVENTS --history DSN` or `greekstream sink`",
        )
    if as_of_us < span[0]:
        raise HistoryQueryError(
            f"{label} {format_ts(as_of_us)} is before history starts ({format_ts(span[0])})",
            hint=f"ask for a time at or after {format_ts(span[0])}",
        )


def exposures_as_of(
    history: History, as_of_us: int, book: str | None = None, config: EngineConfig | None = None
) -> list[ExposureValues]:
    """Exact exposures at ``as_of_us`` by replaying stored events (all books, or one)."""
    require_schema(history)
    require_book(history, book)
    check_as_of(history, as_of_us)
    return replay_exposures(iter_raw(history, book=book, t_to=as_of_us), as_of_us, book, config)


# the columns of an as-of answer's rows, in order: stored (the exposures table's metrics) and
# replayed (every exposure value, the P&L, the as-of); a CSV's header, however empty
STORED_EXPOSURE_COLUMNS = ("book", "underlying", *EXPOSURE_METRICS, "ts")
REPLAYED_EXPOSURE_COLUMNS = ("book", "underlying", *EXPOSURE_VALUES, "pnl", "as_of")


def replay_exposures(
    records: Iterable[Record], as_of_us: int, book: str | None = None,
    config: EngineConfig | None = None,
) -> list[ExposureValues]:
    """The engine's exposures at ``as_of_us`` after ``records`` (no I/O: the query service
    runs it in a worker process on records it read)."""
    result = replay(records, as_of_us=as_of_us, config=config, keep_outputs=False)
    rows = result.engine.exposures(as_of_us)
    return [r for r in rows if book is None or r.book == book]


_METRICS = ", ".join(EXPOSURE_METRICS)


_T = "fromUnixTimestamp64Micro({t:Int64}, 'UTC')"


def _rollup_tier(table: str, lo: str | None, hi: str, book_filter: str) -> str:
    low = f"bucket >= {lo}({_T}) AND " if lo else ""
    return (
        f"SELECT book, underlying, max(last_ts) AS at, argMaxMerge(last) AS v FROM {table} "
        f"PREWHERE {low}bucket < {hi}({_T}) WHERE 1 {book_filter} GROUP BY book, underlying"
    )


def stored_exposures_as_of(
    history: History, as_of_us: int, books: list[str] | None = None
) -> list[dict[str, Any]]:
    """Latest stored exposure per (book, underlying) at or before ``as_of_us``.

    Four tiers, disjoint in time and each duplicate-insensitive: whole days before the
    as-of day (exposure_1d), hours of that day (exposure_1h), minutes of that hour
    (exposure_1m), raw rows of that minute; argMax by (ts, emission order) picks the latest.
    """
    book_filter = "AND book IN {books:Array(String)}" if books is not None else ""
    rollups = [
        _rollup_tier(table, lo, hi, book_filter)
        for table, lo, hi in (("exposure_1d", None, "toStartOfDay"),
                              ("exposure_1h", "toStartOfDay", "toStartOfHour"),
                              ("exposure_1m", "toStartOfHour", "toStartOfMinute"))
    ]
    raw = (
        f"SELECT book, underlying, max(ts) AS at, "
        f"argMax(({_METRICS}), (ts, seq)) AS v "
        f"FROM exposures WHERE ts >= toStartOfMinute({_T}) AND ts <= {_T} {book_filter} "
        f"GROUP BY book, underlying"
    )
    tiers = " UNION ALL ".join([*rollups, raw])
    sql = (
        f"SELECT book, underlying, toUnixTimestamp64Micro(max(at)), argMax(v, at) "
        f"FROM ({tiers}) GROUP BY book, underlying ORDER BY book, underlying"
    )
    params: dict[str, Any] = {"t": as_of_us}
    if books is not None:
        params["books"] = books
    out = []
    for book, underlying, ts, values in history.rows(sql, params):
        out.append(dict(zip(STORED_EXPOSURE_COLUMNS, (book, underlying, *values,
                                                      format_ts(int(ts))), strict=True)))
    return out
