"""Helpers shared by the subcommands: time arguments, output formats, writing files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

from greekstream.core.books import ExposureValues
from greekstream.core.timeutil import TimestampError, format_ts, parse_ts
from greekstream.errors import UsageError

EXPOSURE_FIELDS = (
    "book", "underlying", "delta", "delta_equity", "gamma", "vega", "theta", "delta_usd",
    "positions",
)
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
        d = {k: getattr(r, k) for k in EXPOSURE_FIELDS}
        d["stale"] = r.stale
        d["oracle_divergence"] = r.oracle_divergence
        d["vanna"] = r.vanna
        d["volga"] = r.volga
        d["funding_usd_per_day"] = r.funding_usd_per_day
        if r.pnl is not None:
            d["pnl"] = r.pnl
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


def fmt_num(value: object, width: int = 14) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, bool):
        return ("yes" if value else "").rjust(width)
    if isinstance(value, int):
        return f"{value:>{width},d}"
    if isinstance(value, float):
        if value != 0.0 and (abs(value) >= 1e7 or abs(value) < 1e-3):
            return f"{value:>{width}.4e}"
        return f"{value:>{width},.4f}"
    return str(value).rjust(width)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> None:
    widths = [max(len(h), 12) for h in headers]
    cells = [[fmt_num(v, 0).strip() if not isinstance(v, str) else v for v in row] for row in rows]
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
