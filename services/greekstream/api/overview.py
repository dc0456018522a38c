"""The dashboard's overview: per (book, underlying) the latest exposure with the limits in
force and their use in % (the Greeks', the liquidation distance's and the health
factor's), the open breaches (first), P&L, worst scenario loss and
liquidation distance; all from history, as of its last stored event."""

from __future__ import annotations

import math
from typing import Any

import orjson

from greekstream.core import guards
from greekstream.core.events import DecodeError, Limits, decode_event
from greekstream.core.timeutil import format_ts
from greekstream.history.asof import ACCEPTED, history_span, stored_exposures_as_of
from greekstream.history.client import History
from greekstream.history.replay_io import REPLAY_ORDER

ByKey = dict[tuple[str, str], dict[str, Any]]  # (book, underlying) -> fields

# exposure field, the limit on it, whether the limit is a maximum of |value|
LIMITED = (("delta", "max_abs_delta", True), ("gamma", "max_abs_gamma", True),
           ("vega", "max_abs_vega", True), ("theta", "min_theta", False))
# floors (a value must stay above them), the limit on each: the `breach` metric's name
FLOORS = (("liq_distance", "min_liq_distance"), ("health_factor", "min_health_factor"))
FLOOR_USE_CAP = 999.0  # at or past liquidation: shown as 999%, not an infinite use


def limits_in_force(history: History, books: list[str], at: int) -> ByKey:
    """The latest `limits` input the engine accepted per (book, underlying) at or before
    ``at``: a rejected one (its source in ``rejections``: a wrong-typed or negative limit,
    one dated far ahead) changed nothing in the engine and is not in force here either,
    nor is a repeat of a book's event id (the engine drops it as a duplicate: the first
    in replay order is the one applied).
    Each is read as the engine reads it (the `Limits` model and the guards); one that
    does not pass (stored by an older engine, say) is left out, never half-used."""
    first = f"({REPLAY_ORDER})"  # the first in replay order is the one applied
    rows = history.rows(
        "SELECT book, u, argMax(r, (t, s)) FROM ("  # (no alias may shadow a column)
        f"SELECT book, argMin(underlying, {first}) AS u, argMin(raw, {first}) AS r,"
        f" argMin(ts, {first}) AS t, argMin(seq, {first}) AS s FROM raw_events "
        f"WHERE type = 'limits' AND {ACCEPTED} AND book IN {{books:Array(String)}} "
        "AND ts <= fromUnixTimestamp64Micro({t:Int64}, 'UTC') GROUP BY book, event_id) "
        "GROUP BY book, u",
        {"books": books, "t": at})
    out: ByKey = {}
    for b, u, raw in rows:
        limits = read_limits(raw)
        if limits is not None:
            out[(b, u)] = limits
    return out


def read_limits(raw: str | bytes) -> dict[str, Any] | None:
    """A stored `limits` record's fields as the engine applies them (``ts`` in epoch µs),
    or None when the engine would reject it."""
    try:
        event = decode_event(raw)
        if not isinstance(event, Limits):
            return None
        guards.check_event(event)
    except (DecodeError, guards.GuardError):
        return None
    return event.model_dump()


def open_breaches(history: History, books: list[str], at: int) -> list[dict[str, Any]]:
    """Breaches opened and not cleared at ``at``, with how long they have been open."""
    rows = history.rows(
        "SELECT breach_id, any(book), any(underlying), any(metric), "
        "toUnixTimestamp64Micro(minIf(ts, state = 'open')), anyIf(value, state = 'open'), "
        "anyIf(`limit`, state = 'open') FROM breaches "
        "WHERE book IN {books:Array(String)} AND ts <= fromUnixTimestamp64Micro({t:Int64}, 'UTC') "
        "GROUP BY breach_id HAVING countIf(state = 'cleared') = 0 AND countIf(state = 'open') > 0 "
        "ORDER BY 5, breach_id",
        {"books": books, "t": at})
    return [{"breach_id": bid, "book": b, "underlying": u, "metric": m,
             "opened_at": format_ts(int(opened)), "open_for_s": (at - opened) / 1e6,
             "value": value, "limit": limit}
            for bid, b, u, m, opened, value, limit in rows]


def latest_risk(history: History, books: list[str], at: int) -> ByKey:
    rows = history.rows(
        "SELECT book, underlying, argMax(json, (ts, seq)) FROM risk_matrix "
        "WHERE book IN {books:Array(String)} AND ts <= fromUnixTimestamp64Micro({t:Int64}, 'UTC') "
        "GROUP BY book, underlying", {"books": books, "t": at})
    out = {}
    for b, u, body in rows:
        m = orjson.loads(body)
        out[(b, u)] = {k: m.get(k) for k in ("worst_loss", "liq_move_down", "liq_move_up",
                                             "liq_price_down", "liq_price_up")}
    return out


def latest_pnl(history: History, books: list[str], at: int) -> ByKey:
    """The latest `pnl` output per key (empty when the store has no P&L table or rows): the
    last by (ts, emission order), as the exposure beside it (two at one ts, events of one
    microsecond, gave either)."""
    if "pnl" not in history.tables():
        return {}
    fields = ("realized_usd", "unrealized_usd", "fees_usd", "funding_usd", "total_usd")
    rows = history.rows(
        f"SELECT book, underlying, argMax(({', '.join(fields)}), (ts, seq)) FROM pnl "
        "WHERE book IN {books:Array(String)} AND ts <= fromUnixTimestamp64Micro({t:Int64}, 'UTC') "
        "GROUP BY book, underlying", {"books": books, "t": at})
    return {(b, u): dict(zip(fields, v, strict=True)) for b, u, v in rows}


def use_pct(value: float | None, limit: float | None, is_max: bool) -> float | None:
    """How much of a limit a value uses, in %: |value|/limit for a maximum; for a minimum
    (theta's negative limit) value/limit when the value is on the limit's side of 0."""
    if value is None or limit is None:
        return None
    if is_max:
        return None if limit == 0 else abs(value) / limit * 100.0
    if limit == 0 or (value >= 0) != (limit >= 0):
        return 0.0
    return value / limit * 100.0


def floor_use_pct(value: float | None, limit: float | None) -> float | None:
    """How much of a floor a value uses, in %: limit/value, 100% at the floor and more
    below it (a liquidation distance half the limit uses 200%), capped at FLOOR_USE_CAP."""
    if value is None or limit is None or limit <= 0:
        return None
    if value <= 0:
        return FLOOR_USE_CAP
    return min(limit / value * 100.0, FLOOR_USE_CAP)


def regime_factor(limits: dict[str, Any], regime: str | None) -> float:
    """The factor on the max_abs_* limits in ``regime`` (the limits' ``regime_scale``, as
    the engine applies it: core/engine.py ``regime_scale``); 1 without either."""
    scale = limits.get("regime_scale")
    if regime is None or not isinstance(scale, dict):
        return 1.0
    factor = scale.get(regime, 1.0)  # (limits_in_force read it as the engine: > 0, finite)
    ok = type(factor) in (int, float) and math.isfinite(factor) and factor > 0
    return float(factor) if ok else 1.0


def limit_use(exposure: dict[str, Any], limits: dict[str, Any], risk: dict[str, Any],
              breaches: list[dict[str, Any]], regime: str | None = None,
              ) -> dict[str, float | None]:
    """Each limit's use, in %: the Greeks' from the exposure, a maximum scaled for the
    underlying's volatility ``regime`` as the engine checks it; the liquidation distance's
    from the latest risk matrix (the nearer of its two moves); a floor without a current
    value here (the health factor: the engine computes it from the loans, and only a
    breach stores it) from its open breach, at the value that opened it."""
    k = regime_factor(limits, regime)
    use = {f: use_pct(exposure.get(f), _times(limits.get(name), k if is_max else 1.0), is_max)
           for f, name, is_max in LIMITED}
    moves = [abs(m) for m in (risk.get("liq_move_down"), risk.get("liq_move_up"))
             if m is not None]
    current = {"liq_distance": min(moves) if moves else None}
    opened = {b["metric"]: b for b in breaches}
    for metric, name in FLOORS:
        value, limit = current.get(metric), limits.get(name)
        if value is None and metric in opened:
            value, limit = opened[metric]["value"], opened[metric]["limit"]
        use[metric] = floor_use_pct(value, limit)
    return use


def _times(limit: float | None, k: float) -> float | None:
    return None if limit is None else limit * k


def limits_now(limits: dict[str, Any], regime: str | None) -> dict[str, float | None]:
    """The limits the engine checks in ``regime``: each maximum scaled by the limits'
    ``regime_scale`` (core/engine.py ``_check_limits``), the floors as they are; the
    page's limit lines (a line at the unscaled maximum stood above the breaches a
    stressed regime's halved limit opened)."""
    k = regime_factor(limits, regime)
    now = {name: _times(limits.get(name), k if is_max else 1.0) for _, name, is_max in LIMITED}
    now.update({name: limits.get(name) for _, name in FLOORS})
    return now


def regimes_in_force(history: History, at: int) -> dict[str, str]:
    """Each underlying's volatility regime at ``at`` (its latest change), if any."""
    if "regimes" not in history.tables():
        return {}
    rows = history.rows(
        "SELECT underlying, argMax(regime, ts) FROM regimes "
        "WHERE ts <= fromUnixTimestamp64Micro({t:Int64}, 'UTC') GROUP BY underlying",
        {"t": at})
    return dict(rows)


def overview(history: History, books: list[str]) -> dict[str, Any]:
    span = history_span(history)
    if span is None or not books:  # as of the last stored event all the same: a token
        # that sees no book yet read "no events stored" over a store holding them
        return {"as_of": None if span is None else format_ts(span[1]), "rows": [],
                "open_breaches": [], "top": []}
    at = span[1]
    exposures = stored_exposures_as_of(history, at, books)
    limits = limits_in_force(history, books, at)
    risk = latest_risk(history, books, at)
    pnl = latest_pnl(history, books, at)
    breaches = open_breaches(history, books, at)
    regimes = regimes_in_force(history, at)
    rows = []
    for e in exposures:
        key = (e["book"], e["underlying"])
        lim = limits.get(key, {})
        opened = [b for b in breaches if (b["book"], b["underlying"]) == key]
        use = limit_use(e, lim, risk.get(key, {}), opened, regimes.get(e["underlying"]))
        used = [u for u in use.values() if u is not None]
        regime = regimes.get(e["underlying"])
        rows.append({
            **{k: e.get(k) for k in ("book", "underlying", "delta", "delta_equity", "gamma",
                                     "vega", "theta", "delta_usd", "positions")},
            "ts": e.get("ts") or e.get("as_of"),
            "limits": {name: lim.get(name) for name in
                       [*(n for _, n, _ in LIMITED), *(n for _, n in FLOORS)]},
            # the underlying's volatility regime and the limits the engine checks in it
            "regime": regime, "limits_in_force": limits_now(lim, regime),
            "use_pct": use, "max_use_pct": max(used) if used else None,
            "open_breaches": [b["metric"] for b in opened],
            "pnl": pnl.get(key), **risk.get(key, {}),
        })
    rows.sort(key=lambda r: (-len(r["open_breaches"]), -(r["max_use_pct"] or 0.0),
                             r["book"], r["underlying"]))
    totals: dict[str, float] = {}
    for r in rows:
        totals[r["book"]] = totals.get(r["book"], 0.0) + abs(r["delta_usd"] or 0.0)
    top = [{"book": b, "abs_delta_usd": v}
           for b, v in sorted(totals.items(), key=lambda kv: -kv[1])[:10]]
    return {"as_of": format_ts(at), "rows": rows, "open_breaches": breaches, "top": top}
