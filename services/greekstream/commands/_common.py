"""Helpers shared by the subcommands: time and port arguments, JSON output, writing files.

The tables they print are in :mod:`greekstream.reports.tables`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from greekstream.core.timeutil import TimestampError, parse_ts
from greekstream.errors import UsageError


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


def print_json(obj: object) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


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
