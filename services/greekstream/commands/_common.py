"""Helpers shared by the subcommands: time arguments, output formats, writing files."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

from greekstream.core.books import EXPOSURE_METRICS, ExposureValues
from greekstream.core.timeutil import TimestampError, format_ts, parse_ts
from greekstream.errors import UsageError

EXPOSURE_FIELDS = ("book", "underlying", *EXPOSURE_METRICS)  # the exposure table's columns
PNL_FIELDS = ("realized_usd", "unrealized_usd", "fees_usd", "funding_usd", "total_usd")
PNL_TABLE_FIELDS = ("book", "underlying", *PNL_FIELDS, "funding_usd_per_day")


def port(value: str) -> int:
    """An argparse type: a TCP port, 0..65535 (0: any free port)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is out of range: a port is 0..65535")
    return number


def parse_time_arg(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_ts(value)
    except TimestampError as exc:
        raise UsageError(
            f"bad {flag} {value!r}: not an RFC 3339 timestamp",
            hint=f"write it like {flag} 2026-03-01T14:05:00Z",
        ) from exc


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


def print_json(obj: object) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


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


def ensure_dir(path: str) -> Path:
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory {p}: {exc.strerror}") from exc
    return p


def emit(data: bytes, out: str | None) -> None:
    """Bytes to stdout, or to the file ``out``."""
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        Path(out).write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from exc
