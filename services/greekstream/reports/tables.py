"""Tables the tools print: exposure and P&L columns, their units, fixed-point cells."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from greekstream.core.books import EXPOSURE_METRICS, ExposureValues
from greekstream.core.timeutil import format_ts

if TYPE_CHECKING:
    from greekstream.core.scenarios import BookScenarioRisk

EXPOSURE_FIELDS = ("book", "underlying", *EXPOSURE_METRICS)  # the exposure table's columns
PNL_FIELDS = ("realized_usd", "unrealized_usd", "fees_usd", "funding_usd", "total_usd")
PNL_TABLE_FIELDS = ("book", "underlying", *PNL_FIELDS, "funding_usd_per_day")


def exposure_rows(rows: Iterable[ExposureValues], as_of_us: int | None) -> list[dict[str, object]]:
    out = []
    for r in rows:
        d = r.as_dict()
        if as_of_us is not None:
            d["as_of"] = format_ts(as_of_us)
        out.append(d)
    return out


def print_pnl_table(rows: Sequence[dict[str, object]], title: str) -> None:
    """The P&L of exposure rows (with their ``pnl``) as a table: one line per key."""
    body = []
    for r in rows:
        pnl = r.get("pnl")
        if isinstance(pnl, dict):
            body.append([r["book"], r["underlying"], *(pnl[k] for k in PNL_FIELDS),
                         r["funding_usd_per_day"]])
    print_table(PNL_TABLE_FIELDS, body, title=title)


# the unit of each exposure column, shown in every table header (docs/contract.md)
UNITS = {
    "delta": "coin", "delta_equity": "coin", "gamma": "coin per USD",
    "vega": "USD per vol pt", "theta": "USD per day", "delta_usd": "USD",
    "positions": "count", "quantity": "contracts", "delta_before": "coin",
    "delta_after": "coin",
}
# a breach's value and limit are in its metric's unit
METRIC_UNITS = {
    "delta": "coin", "gamma": "coin per USD", "vega": "USD per vol pt", "theta": "USD per day",
    "health_factor": "ratio", "liq_distance": "fraction of price", "oracle": "see docs",
}
EXPOSURE_HEADERS = tuple(f"{k} ({UNITS[k]})" if k in UNITS and k != "positions" else k
                         for k in EXPOSURE_FIELDS)
SIGNIFICANT = 3  # digits shown of a column's small (but not negligible) values
MAX_DECIMALS = 6


def with_unit(name: str) -> str:
    """A column header with its unit, e.g. ``vega (USD per vol pt)``."""
    return f"{name} ({UNITS[name]})" if name in UNITS else name


def decimals_for(values: Sequence[object]) -> int:
    """One number of decimals for a whole column, fixed-point (never e-notation): enough
    for SIGNIFICANT digits of its smallest value that is not negligible (above a
    millionth of its largest), between 0 and MAX_DECIMALS."""
    floats = [abs(v) for v in values if isinstance(v, float) and math.isfinite(v) and v]
    if not floats:
        return 2
    floor = max(floats) * 1e-6
    small = min(v for v in floats if v >= floor)
    return max(0, min(MAX_DECIMALS, SIGNIFICANT - 1 - math.floor(math.log10(small))))


def fmt_num(value: object, decimals: int = 4) -> str:
    """Fixed-point with thousands separators; ints as ints; None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return f"{value:,d}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        text = f"{value:,.{decimals}f}"
        return text[1:] if text.startswith("-") and not text.strip("-0.,") else text
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    """A duration as h:mm:ss (a breach open for 16,309.5 s is 4:31:50)."""
    if seconds is None:
        return "-"
    total = round(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> None:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in headers]
    places = [decimals_for(col) for col in columns]
    cells = [[v if isinstance(v, str) else fmt_num(v, d) for v, d in zip(row, places, strict=True)]
             for row in rows]
    widths = [max(len(h), 8) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(h.rjust(w) if i > 1 else h.ljust(w)
                           for i, (h, w) in enumerate(zip(headers, widths, strict=True))))
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(c.rjust(w) if i > 1 else c.ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    print("\n".join(lines))


def liquidation_parts(r: BookScenarioRisk, none: str, move_spec: str,
                      at: str) -> list[str] | None:
    """Each side's liquidation move as text, e.g. ``down -3.20% @ 57,000``: ``move_spec``
    formats the move, ``at`` (a ``str.format`` pattern) the price; ``none`` stands for a
    side with no crossing. None without a margin report (the chart and the table say so
    each in their own words)."""
    liq = r.liquidation
    if liq is None:
        return None
    parts = []
    for side, move, price in (("down", liq.move_down, liq.price_down),
                              ("up", liq.move_up, liq.price_up)):
        if move is None:
            parts.append(f"{side}: {none}")
        else:
            where = at.format(price) if price is not None else ""
            parts.append(f"{side} {move:{move_spec}}{where}")
    return parts
