"""The analytics queries, over history's tables and rollups. All duplicate-insensitive."""

from __future__ import annotations

from typing import Any, Literal

import orjson

from greekstream.core.timeutil import format_ts
from greekstream.errors import HistoryQueryError, UnknownBookError
from greekstream.history.asof import ACCEPTED
from greekstream.history.client import History
from greekstream.history.replay_io import time_filter
from greekstream.history.rows import columnar_matrix

Bucket = Literal["1m", "1h", "1d"]
_ROLLUP = {"1m": "exposure_1m", "1h": "exposure_1h", "1d": "exposure_1d"}
_LAST = ("delta", "delta_equity", "gamma", "vega", "theta", "delta_usd", "positions")
_RANGE = ("delta", "delta_usd", "gamma", "vega", "theta")
_RANGES = tuple(f"{m}_{e}" for m in _RANGE for e in ("min", "max"))

# The columns of each list the service answers, in order: its rows' keys, and a CSV's
# header, which an empty answer has too (a script reading a day without breaches)
TIMESERIES_COLUMNS = ("underlying", "bucket", "last_ts", *_LAST, *_RANGES)
BREACH_COLUMNS = ("breach_id", "underlying", "metric", "opened_at", "cleared_at",
                  "duration_s", "value", "limit")
REGIME_COLUMNS = ("ts", "underlying", "previous", "regime", "realized_vol", "implied_vol",
                  "implied_instrument")
INTENT_COLUMNS = ("intent_id", "ts", "underlying", "instrument_id", "side", "quantity",
                  "delta_before", "delta_after", "basis", "followed", "trade_event_id",
                  "trade_delay_s")
RISK_MATRIX_COLUMNS = ("underlying", "ts", "worst_loss", "matrix")


def top_columns(by: str) -> tuple[str, ...]:
    return ("book", by, f"abs_{by}")
_T = "fromUnixTimestamp64Micro({%s:Int64}, 'UTC')"
# The most rows an answer of a time range may hold (a month of minutes of two underlyings):
# each is ~2 KB in the service until it is sent, and serve runs in 512 MiB (the chart's
# limit). The queries ask ClickHouse for one more, to know that there were more.
MAX_ROWS = 100_000


def _at_most(rows: list[Any], what: str, narrower: str = "narrow from/to") -> list[Any]:
    if len(rows) > MAX_ROWS:
        raise HistoryQueryError(f"more than {MAX_ROWS} {what} in this range: {narrower}")
    return rows


def _order(columns: str, last: int | None) -> str:
    """ORDER BY ``columns`` and the LIMIT of a list: oldest first, at most one more than
    MAX_ROWS (to know there were more); with ``last``, newest first and at most ``last``
    (the caller reverses it: the last N, oldest first)."""
    if last is None:
        return f"ORDER BY {columns} LIMIT {MAX_ROWS + 1}"
    desc = ", ".join(f"{c.strip()} DESC" for c in columns.split(","))
    return f"ORDER BY {desc} LIMIT {int(last)}"


def _last(rows: list[Any], what: str, last: int | None) -> list[Any]:
    """``rows`` oldest first: a ``last`` query's reversed, any other's within MAX_ROWS."""
    if last is not None:
        return rows[::-1]
    return _at_most(rows, what, "narrow from/to, or ask for the last N (last=N)")


def books(history: History) -> list[str]:
    """The books of the outputs and of the input records the engine accepted: a record it
    rejected (a mistyped book on a trade of an unknown instrument) made no book."""
    rows = history.rows(
        "SELECT DISTINCT book FROM (SELECT DISTINCT book FROM exposures UNION ALL "
        f"SELECT DISTINCT book FROM raw_events WHERE book != '' AND {ACCEPTED}) ORDER BY book"
    )
    return [r[0] for r in rows]


def timeseries(
    history: History, book: str, bucket: Bucket, t_from: int | None, t_to: int | None,
    underlying: str | None = None,
) -> list[dict[str, Any]]:
    """Last, min and max of each Greek per (underlying, bucket), from the rollups.

    Formatting and tuple unpacking happen in ClickHouse: a month of minutes is 43k rows.
    """
    where, params = time_filter(t_from, t_to, column="bucket")
    params["book"] = book
    where += " AND book = {book:String}"
    if underlying:
        where += " AND underlying = {underlying:String}"
        params["underlying"] = underlying
    last = ", ".join(f"tupleElement(l, {i + 1}) AS {name}" for i, name in enumerate(_LAST))
    inner = ", ".join(f"{r[-3:]}({r}) AS r_{r}" for r in _RANGES)
    sql = (
        f"SELECT underlying, {_iso('bucket')}, {_iso('lt')}, {last}, "
        f"{', '.join(f'r_{r}' for r in _RANGES)} "
        f"FROM (SELECT underlying, bucket, max(last_ts) AS lt, argMaxMerge(last) AS l, {inner} "
        f"FROM {_ROLLUP[bucket]} WHERE {where} GROUP BY underlying, bucket) "
        f"ORDER BY underlying, bucket LIMIT {MAX_ROWS + 1}"
    )
    found = _at_most(history.query(sql, params).result_rows, "buckets",
                     "narrow from/to, or ask a coarser bucket")
    return [dict(zip(TIMESERIES_COLUMNS, row, strict=True)) for row in found]


def _iso(expr: str) -> str:
    """RFC 3339 UTC in SQL: seconds, or microseconds when there is a fraction."""
    return (f"if(toUnixTimestamp64Micro(toDateTime64({expr}, 6, 'UTC')) % 1000000 = 0, "
            f"formatDateTime({expr}, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), "
            f"formatDateTime(toDateTime64({expr}, 6, 'UTC'), '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC'))")


def top_books(
    rows: list[dict[str, Any]], by: Literal["delta_usd", "vega"], limit: int
) -> list[dict[str, Any]]:
    """Books ranked by |sum over underlyings of `by`| from as-of exposure rows."""
    totals: dict[str, float] = {}
    for row in rows:
        value = row.get(by)
        totals[row["book"]] = totals.get(row["book"], 0.0) + (value or 0.0)
    ranked = sorted(totals.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:limit]
    return [dict(zip(top_columns(by), (b, v, abs(v)), strict=True)) for b, v in ranked]


def breach_history(
    history: History, book: str, t_from: int | None, t_to: int | None,
    last: int | None = None,
) -> list[dict[str, Any]]:
    """One row per breach: when it opened, when (if) it cleared, how long it lasted; with
    ``last``, only the last that many (by opening), still oldest first."""
    where, params = time_filter(t_from, t_to)
    params["book"] = book
    sql = (
        "SELECT breach_id, any(underlying), any(metric), "
        "toUnixTimestamp64Micro(minIf(ts, state = 'open')), "
        "toUnixTimestamp64Micro(minIf(ts, state = 'cleared')), countIf(state = 'cleared') > 0, "
        "anyIf(value, state = 'open'), anyIf(`limit`, state = 'open') "
        f"FROM breaches WHERE book = {{book:String}} AND {where} "
        f"GROUP BY breach_id {_order('4, breach_id', last)}"
    )
    out = []
    found = _last(history.rows(sql, params), "breaches", last)
    for bid, und, metric, opened, cleared, has_clear, value, limit in found:
        has_open = opened and opened > 0
        out.append(dict(zip(BREACH_COLUMNS, (
            bid, und, metric,
            format_ts(int(opened)) if has_open else None,
            format_ts(int(cleared)) if has_clear else None,
            (cleared - opened) / 1e6 if has_clear and has_open else None,
            value, limit,
        ), strict=True)))
    return out


def regimes(history: History, t_from: int | None, t_to: int | None) -> list[dict[str, Any]]:
    """Every volatility regime change (docs/regimes.md), oldest first."""
    where, params = time_filter(t_from, t_to)
    sql = (
        "SELECT DISTINCT toUnixTimestamp64Micro(ts), underlying, previous, regime, "
        "realized_vol, implied_vol, implied_instrument, event_id FROM regimes "
        f"WHERE {where} ORDER BY 1, 2, 8 LIMIT {MAX_ROWS + 1}"
    )
    return [
        dict(zip(REGIME_COLUMNS, (format_ts(int(ts)), und, prev, regime, rv, iv, inst),
                 strict=True))
        for ts, und, prev, regime, rv, iv, inst, _ in _at_most(history.rows(sql, params),
                                                               "regime changes")
    ]


def hedge_intents(
    history: History, book: str, t_from: int | None, t_to: int | None, within_s: float,
    last: int | None = None,
) -> list[dict[str, Any]]:
    """Each intent with the first accepted trade of the book on the hedge instrument at or
    after it; ``followed`` when that trade came within ``within_s``. With ``last``, only
    the last that many, still oldest first."""
    where, params = time_filter(t_from, t_to, column="i.ts")
    params.update(book=book, within=int(within_s * 1_000_000))
    sql = (
        "SELECT i.intent_id, i.underlying, i.instrument_id, i.side, i.quantity, "
        "i.delta_before, i.delta_after, i.basis, toUnixTimestamp64Micro(i.ts), "
        "t.event_id, toUnixTimestamp64Micro(t.ts) "
        "FROM (SELECT DISTINCT intent_id, ts, book, underlying, instrument_id, side, quantity, "
        "delta_before, delta_after, basis FROM hedge_intents WHERE book = {book:String}) AS i "
        "ASOF LEFT JOIN (SELECT DISTINCT event_id, book, instrument_id, ts FROM raw_events "
        "WHERE type = 'trade' AND book = {book:String} "
        "AND source NOT IN (SELECT source FROM rejections)) AS t "
        "ON i.book = t.book AND i.instrument_id = t.instrument_id AND t.ts >= i.ts "
        f"WHERE {where} {_order('i.ts, i.intent_id', last)}"
    )
    out = []
    for row in _last(history.rows(sql, params), "hedge intents", last):
        iid, und, inst, side, qty, before, after, basis, ts, trade_id, trade_ts = row
        followed = bool(trade_id) and trade_ts - ts <= params["within"]
        out.append(dict(zip(INTENT_COLUMNS, (
            iid, format_ts(int(ts)), und, inst, side, qty,
            # which delta (basis): the positions' (`positions`) or with collateral (`equity`)
            before, after, basis, followed,
            trade_id if followed else None,
            (trade_ts - ts) / 1e6 if followed else None,
        ), strict=True)))
    return out


def risk_matrix(history: History, book: str, at: int | None) -> list[dict[str, Any]]:
    """The latest stored risk matrix per underlying of a book (at or before ``at``): the
    last by (ts, emission order), found on the sorting key; only those rows' JSON is read.
    One shape: a matrix stored before the columnar event (``scenarios``, a list of
    objects) is returned with its five columns instead (issue 12, item 5)."""
    where, params = time_filter(None, at)
    params["book"] = book
    sql = (
        "SELECT underlying, toUnixTimestamp64Micro(ts), worst_loss, json FROM risk_matrix "
        "WHERE book = {book:String} AND event_id IN (SELECT argMax(event_id, (ts, seq)) "
        f"FROM risk_matrix WHERE book = {{book:String}} AND {where} GROUP BY underlying) "
        "ORDER BY underlying LIMIT 1 BY underlying"
    )
    return [
        dict(zip(RISK_MATRIX_COLUMNS, (und, format_ts(int(ts)), worst,
                                       columnar_matrix(orjson.loads(body))), strict=True))
        for und, ts, worst, body in history.rows(sql, params)
    ]


def var(history: History, book: str, at: int | None) -> dict[str, Any] | None:
    """The latest stored `var` output of a book at or before ``at`` (its event JSON), or
    None: the last by (ts, emission order), found on the sorting key."""
    where, params = time_filter(None, at)
    params["book"] = book
    sql = (
        "SELECT json FROM var WHERE book = {book:String} AND event_id IN "
        "(SELECT argMax(event_id, (ts, seq)) FROM var WHERE book = {book:String} "
        f"AND {where}) LIMIT 1"
    )
    rows = history.rows(sql, params)
    return orjson.loads(rows[0][0]) if rows else None


def require_known(book: str, known: list[str]) -> None:
    if book not in known:
        raise UnknownBookError(f"unknown book {book!r}", hint="GET /v1/books lists your books")
