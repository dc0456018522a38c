"""Daily returns for historical VaR, built from the input events stored in ClickHouse.

For each underlying and UTC day:

* the **close** is the last stored `index` event of the day (by event time, then
  arrival order); the day's return is r = ln(close_d / close_{d−1});
* the **ATM vol** is the `mark_iv` of the option nearest to 30 days and to the money at
  the day's end: among the options of that underlying quoted that day (each with its
  last quote of the day, still alive at the end of the day), the expiry nearest to 30
  days to expiry, then the strike nearest to that quote's forward (|ln(K/F)|), ties to
  the smaller instrument id; the vol change is σ_d − σ_{d−1}. An underlying without
  any option quote in the window (WBTC, say) gets no vol column (docs/contract.md: vol 0).

The window is the last ``days`` returns ending on ``to`` (default: the last day with a
close of every underlying): ``days + 1`` consecutive closes. A missing day inside it is
an error naming the day, never a silent skip (a skipped day would fold two days' moves
into one return).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from greekstream.core.events import DecodeError, decode_event
from greekstream.core.timeutil import MICROS_PER_SECOND
from greekstream.core.var import Returns
from greekstream.errors import HistoryQueryError
from greekstream.history.asof import ACCEPTED
from greekstream.history.client import History

DAY_US = 86_400 * MICROS_PER_SECOND
TARGET_DAYS = 30.0
# only the records the engine accepted: one it rejected (a price of -5, a quote of an
# unknown instrument) is stored too, and moved no close (asof.ACCEPTED)
_LAST_OF_DAY = (
    "SELECT {key}, toUInt32(toDate(ts)) AS day, argMax(raw, (ts, arrival_ts, seq)) "
    f"FROM raw_events WHERE {ACCEPTED} AND type = {{{{kind:String}}}} "
    "AND {key} IN {{names:Array(String)}} GROUP BY {key}, day ORDER BY {key}, day"
)


@dataclass(frozen=True)
class _Option:
    underlying: str
    expiry_us: int
    strike: float


def build_returns(history: History, underlyings: Sequence[str], days: int,
                  to: date | None = None, with_vol: bool = True) -> Returns:
    """The last ``days`` daily returns (and ATM-vol changes) of ``underlyings``."""
    if days < 1:
        raise HistoryQueryError("--days must be at least 1")
    closes = {u: {} for u in underlyings}  # type: dict[str, dict[date, float]]
    for u, day, raw in history.rows(_LAST_OF_DAY.format(key="underlying"),
                                    {"kind": "index", "names": list(underlyings)}):
        closes[u][_day(day)] = float(_decode(raw).price)
    for u, by_day in closes.items():
        if not by_day:
            raise HistoryQueryError(f"no stored index event of {u}",
                                    hint="is the underlying spelled as in the index events?")
    end = to or min(max(by_day) for by_day in closes.values())
    try:
        first = end - timedelta(days=days)
    except OverflowError:  # (before year 1)
        first = date.min
    if first < _EPOCH:  # no stored event can be older (and a date before year 1 overflows)
        raise HistoryQueryError(
            f"{days} returns ending {end.isoformat()} start before 1970-01-01, before any "
            f"stored event", hint="give fewer --days, or a later --to")
    window = [end - timedelta(days=days - k) for k in range(days + 1)]
    log_returns = {u: _log_returns(u, closes[u], window) for u in underlyings}
    vols = _atm_vols(history, underlyings, window) if with_vol else {}
    return Returns(
        dates=tuple(d.isoformat() for d in window[1:]),
        log_returns=log_returns,
        vol_changes={u: np.diff(v) for u, v in vols.items()},
    )


_EPOCH = date(1970, 1, 1)


def _day(value: Any) -> date:
    """A row's day number (days since 1970-01-01) as a date."""
    return date(1970, 1, 1) + timedelta(days=int(value))


def _decode(raw: object) -> Any:
    """A stored input event (an input model or a decoded Struct: decode_event)."""
    try:
        return decode_event(raw if isinstance(raw, bytes | str) else str(raw))
    except DecodeError as exc:  # stored as decoded: a broken invariant of the store
        raise HistoryQueryError(f"a stored event does not decode: {exc}") from exc


def _missing(name: str, what: str, days: list[date], extra: str = "") -> HistoryQueryError:
    shown = ", ".join(d.isoformat() for d in days[:5]) + (" ..." if len(days) > 5 else "")
    return HistoryQueryError(
        f"{name}: no {what} on {len(days)} day(s) of the window: {shown}",
        hint="a gap in history cannot become a return; fill it, or choose --to/--days "
             "around it" + extra)


def _log_returns(u: str, closes: dict[date, float], window: list[date]) -> np.ndarray:
    gaps = [d for d in window if d not in closes]
    if gaps:
        raise _missing(u, "index event (daily close)", gaps)
    levels = np.array([closes[d] for d in window], dtype=np.float64)
    result: np.ndarray = np.diff(np.log(levels))
    return result


def _atm_vols(history: History, underlyings: Sequence[str],
              window: list[date]) -> dict[str, np.ndarray]:
    options: dict[str, _Option] = {}
    for (raw,) in history.rows("SELECT argMax(raw, (ts, arrival_ts, seq)) FROM raw_events "
                               f"WHERE {ACCEPTED} AND type = 'instrument' "
                               "GROUP BY instrument_id"):
        ev = _decode(raw)
        if ev.kind == "option" and ev.underlying in underlyings:
            options[ev.instrument_id] = _Option(ev.underlying, ev.expiry, ev.strike)
    best: dict[str, dict[date, tuple[tuple[float, float, str], float]]] = {
        u: {} for u in underlyings}
    if options:
        for iid, day, raw in history.rows(_LAST_OF_DAY.format(key="instrument_id"),
                                          {"kind": "quote", "names": sorted(options)}):
            d, opt, q = _day(day), options[iid], _decode(raw)
            end_us = ((d - date(1970, 1, 1)).days + 1) * DAY_US
            if opt.expiry_us <= end_us or q.underlying_price is None or q.mark_iv is None:
                continue
            rank = (abs((opt.expiry_us - end_us) / DAY_US - TARGET_DAYS),
                    abs(math.log(opt.strike / q.underlying_price)), iid)
            held = best[opt.underlying].get(d)
            if held is None or rank < held[0]:
                best[opt.underlying][d] = (rank, float(q.mark_iv))
    out = {}
    for u in underlyings:
        gaps = [d for d in window if d not in best[u]]
        if len(gaps) == len(window):
            continue  # no option of it at all (e.g. WBTC): no vol column, not a gap
        if gaps:
            raise _missing(u, "option quote (ATM vol)", gaps, "; --no-vol leaves vol out")
        out[u] = np.array([best[u][d][1] for d in window], dtype=np.float64)
    return out
