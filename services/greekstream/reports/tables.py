"""Tables the tools print: exposure and P&L columns, their units, fixed-point cells; and
the cells of the CSV exports people open in a spreadsheet (:func:`csv_cell`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import TYPE_CHECKING

import orjson

from greekstream.core.books import EXPOSURE_METRICS, ExposureValues
from greekstream.core.timeutil import format_ts

if TYPE_CHECKING:
    from greekstream.core.scenarios import BookScenarioRisk

# the exposure table's columns; `stale` shows "yes" on a row valued at an old price
EXPOSURE_FIELDS = ("book", "underlying", *EXPOSURE_METRICS, "stale")
PNL_FIELDS = ("realized_usd", "unrealized_usd", "fees_usd", "funding_usd", "total_usd")
PNL_TABLE_FIELDS = ("book", "underlying", *PNL_FIELDS, "funding_usd_per_day", "stale")
# the footnote of a table with a flag column, printed when a row has the flag
FLAG_NOTES = {
    "stale": "stale = yes: the underlying's last price is older than oracle_max_age_s, so "
             "the row is valued at that old price (docs/contract.md, exposure.stale)",
}
# a spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"): `=HYPERLINK(...)`, `+cmd|...`, `@SUM(...)`; and NUL (OWASP ASVS 5.0,
# 1.2.10), which some readers drop before a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def csv_cell(value: object) -> object:
    """``value`` as a cell of a CSV export for people (the API's ``format=csv``): a dict or
    list as its JSON; a string that starts like a formula behind a single quote ``'``, so
    Excel or LibreOffice shows it as the text it is (books, sources, instrument ids and
    reasons come from input records); numbers as they are, negative ones too. Not for a
    file greekstream reads back (a returns file: runtime/returns_file.py)."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


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
                         r["funding_usd_per_day"], r["stale"]])
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
# a row of one quantity (a breach's value and limit; a Greek before, after and its change):
# digits shown of its smallest value, and at most, to tell apart values that differ
ROW_SIGNIFICANT = 4
ROW_MAX_SIGNIFICANT = 10


def with_unit(name: str) -> str:
    """A column header with its unit, e.g. ``vega (USD per vol pt)``."""
    return f"{name} ({UNITS[name]})" if name in UNITS else name


def decimals_for(values: Sequence[object], significant: int = SIGNIFICANT,
                 most: int = MAX_DECIMALS) -> int:
    """One number of decimals for a whole column, fixed-point (never e-notation): enough
    for ``significant`` digits of its smallest value that is not negligible (above a
    millionth of its largest), between 0 and ``most``."""
    floats = [abs(v) for v in values if isinstance(v, float) and math.isfinite(v) and v]
    if not floats:
        return 2
    floor = max(floats) * 1e-6
    small = min(v for v in floats if v >= floor)
    return max(0, min(most, significant - 1 - math.floor(math.log10(small))))


def fmt_row(values: Sequence[float | int | None]) -> list[str]:
    """Numbers of one quantity side by side, whatever their magnitude (a breach's value
    and limit; a Greek before, after and its change), as cells for :func:`print_table`:
    one number of decimals for the row, enough for ROW_SIGNIFICANT digits of its smallest
    value that is not negligible, and more, up to ROW_MAX_SIGNIFICANT digits, until values
    that differ print differently. A gamma of 0.002577 against its limit 0.0025 is
    0.002577 and 0.002500, a health factor of 1.2483 against 1.25 is 1.248 and 1.250, a
    delta of 5,123.4 against 5,000 is 5,123 and 5,000 (a column's decimals, chosen for
    its largest values, would print 0.00 and 0.00, 1.25 and 1.25)."""
    nums = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
    places = decimals_for(nums, ROW_SIGNIFICANT, most=2 * ROW_MAX_SIGNIFICANT)
    cells = [fmt_num(v, places) for v in nums]
    for extra in range(1, ROW_MAX_SIGNIFICANT - ROW_SIGNIFICANT + 1):
        pairs = combinations(zip(nums, cells, strict=True), 2)
        if all(a == b or x != y for (a, x), (b, y) in pairs):
            break
        cells = [fmt_num(v, places + extra) for v in nums]
    return cells


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


def shock_text(value: float, least: int = 0, most: int = 4) -> str:
    """A scenario shock (or its axis label) signed and fixed-point, with at least
    ``least`` decimals and as many more, up to ``most``, as show it exactly: the pm
    preset's vol shock of -0.125 is "-0.125" (not "-0.12"), a price shock of -2.5 % is
    "-2.5%" (not "-2%", the label of the -2 % column beside it)."""
    places = least
    while places < most and abs(round(value, places) - value) > 1e-9 * max(1.0, abs(value)):
        places += 1
    return f"{value:+.{places}f}"


def price_text(value: float, least: int = 2, significant: int = 5) -> str:
    """A price in USD with thousands separators: at least ``least`` decimals, and more
    for a small price, so it keeps ``significant`` digits (at most 12 decimals). Whole
    dollars wrote an XRP liquidation price of 1.1342 as "1", four decimals a token at
    0.00002345 USD as "0.0000", and two a USDC index of 0.9996 as "1.00"."""
    if not math.isfinite(value) or value == 0:
        return f"{value:,.{least}f}"
    places = max(least, min(12, significant - 1 - math.floor(math.log10(abs(value)))))
    return f"{value:,.{places}f}"


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
    lines += [note for flag, note in FLAG_NOTES.items()
              if flag in headers and any(v is True for v in columns[headers.index(flag)])]
    print("\n".join(lines))


def liquidation_parts(r: BookScenarioRisk, none: str, move_spec: str,
                      at: str, least: int = 2) -> list[str] | None:
    """Each side's liquidation move as text, e.g. ``down -3.20% @ 57,000``: ``move_spec``
    formats the move, ``at`` (a ``str.format`` pattern) places the price, written by
    :func:`price_text` with at least ``least`` decimals; ``none`` stands for a side with
    no crossing. None without a margin report (the chart and the table say so each in
    their own words)."""
    liq = r.liquidation
    if liq is None:
        return None
    parts = []
    for side, move, price in (("down", liq.move_down, liq.price_down),
                              ("up", liq.move_up, liq.price_up)):
        if move is None:
            parts.append(f"{side}: {none}")
        else:
            where = at.format(price_text(price, least)) if price is not None else ""
            parts.append(f"{side} {move:{move_spec}}{where}")
    return parts
