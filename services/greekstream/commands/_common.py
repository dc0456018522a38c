"""Helpers shared by the subcommands: time and port arguments, the consumer commands'
settings, JSON output, writing files.

The tables they print are in :mod:`greekstream.reports.tables`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import orjson
from pydantic_settings import BaseSettings

from greekstream.core.guards import TS_RANGE_TEXT, ts_in_range
from greekstream.core.timeutil import TimestampError, parse_ts
from greekstream.errors import ConfigError, UsageError
from greekstream.runtime.whole_file import write_whole
from greekstream.settings import ProcessorSettings, SinkSettings

S = TypeVar("S", ProcessorSettings, SinkSettings)
T = TypeVar("T", bound=BaseSettings)


def port(value: str) -> int:
    """An argparse type: a TCP port, 0..65535 (0: any free port)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is out of range: a port is 0..65535")
    return number


def load_settings(cls: type[T], what: str) -> T:
    """A command's settings model from GREEKSTREAM_* variables and the settings file
    (``cls()``): a value that does not parse or validate (a ValidationError, or pydantic-
    settings' error for a variable that is not JSON) is a :class:`ConfigError` naming
    ``what``. A settings file that cannot be read is the file source's ConfigError
    (settings._FileSource). Every command that reads a settings model reads it here."""
    try:
        return cls()
    except ValueError as exc:  # (a ValidationError and a SettingsError are ValueErrors)
        raise ConfigError(f"bad {what} settings (GREEKSTREAM_* variables, or "
                          f"GREEKSTREAM_SETTINGS_FILE): {exc}") from exc


def consumer_settings(cls: type[S], what: str, args: argparse.Namespace,
                      changes: Callable[[S], dict[str, object]]) -> S:
    """A consumer command's settings (process, sink): the environment's
    (:func:`load_settings`), then its own flags (``changes(base)``), then the ``--group``
    and ``--port`` both have."""
    base = load_settings(cls, what)
    update = changes(base)
    if args.group:
        update["group_id"] = args.group
    if args.port is not None:
        update["http"] = base.http.model_copy(update={"port": args.port})
    return base.model_copy(update=update)


def books_in_file(events: str, until_us: int | None = None) -> set[str]:
    """Every book an event of the file names (up to ``until_us``, event time): the file
    read again, for the hint of an unknown --book or trades' book (explain, whatif), only
    once the command found nothing for it."""
    from greekstream.core.decode import decode_event
    from greekstream.core.events import DecodeError
    from greekstream.runtime.replay import read_records

    books: set[str] = set()
    for raw, _source in read_records(events):
        try:
            event = decode_event(raw)
        except DecodeError:
            continue
        name = getattr(event, "book", None)
        if isinstance(name, str) and (until_us is None or event.ts <= until_us):
            books.add(name)
    return books


def parse_time_arg(value: str | None, flag: str) -> int | None:
    """A time flag in epoch µs: an RFC 3339 timestamp inside the range the engine accepts
    (guards.ts_in_range), so that every later use (format_ts, ClickHouse) can hold it."""
    if value is None:
        return None
    try:
        moment = parse_ts(value)
    except (TimestampError, OverflowError) as exc:
        raise UsageError(
            f"bad {flag} {value!r}: not an RFC 3339 timestamp",
            hint=f"write it like {flag} 2026-03-01T14:05:00Z",
        ) from exc
    if not ts_in_range(moment):
        raise UsageError(
            f"bad {flag} {value!r}: out of the range the engine accepts ({TS_RANGE_TEXT})",
            hint=f"give a time inside it, like {flag} 2026-03-01T14:05:00Z",
        )
    return moment


def stop_on_signals(stop: Callable[[], None], log: logging.Logger) -> None:
    """A long-running consumer (process, sink) stops the same graceful way on SIGTERM (its
    pod's stop) and on Ctrl-C at a terminal: ``stop`` finishes and commits the batch in
    flight, then leaves the group. A second Ctrl-C interrupts at once (exit 130), leaving
    what a SIGKILL leaves (docs/streaming.md, the SIGTERM and SIGKILL rows)."""

    def on_signal(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGINT:  # the next Ctrl-C is KeyboardInterrupt again
            signal.signal(signal.SIGINT, signal.default_int_handler)
        log.info("stopping on %s: finishing the batch in flight%s", name,
                 " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else "",
                 extra={"event": "stopping", "signal": name})
        stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)


def print_json(obj: object) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def ensure_dir(path: str) -> Path:
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory {p}: {exc.strerror}",
                         hint="give a path that is neither a file nor under one, in a "
                              "directory you can write to") from exc
    return p


# the hint of a command's UsageError when its --out PNG cannot be written
PNG_HINT = ("--out is the PNG file to write (always a PNG, whatever its suffix): give a "
            "file name in a directory that exists and that you can write to")


def write_png(draw: Callable[[Path], object], out: Path) -> None:
    """``draw(out)`` (one of reports.plots' PNG writers), then the path on stdout; an
    OSError writing it (a missing directory, no permission) is a UsageError naming it."""
    try:
        draw(out)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}", hint=PNG_HINT) from exc
    print(out)


def emit(data: bytes, out: str | None) -> None:
    """Bytes to stdout, or to the file ``out``, whole or not at all
    (:mod:`greekstream.runtime.whole_file`: a write that fails partway, a full disk or
    Ctrl-C, leaves the file as it was and no temporary behind)."""
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        write_whole(out, data)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from exc
