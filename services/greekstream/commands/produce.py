"""`greekstream produce`: the gateway from an events file, or a live feed on stdin, to the
input topics."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from greekstream.errors import UsageError
from greekstream.kafka import reach

if TYPE_CHECKING:
    from greekstream.kafka.gateway import Gateway

HELP = ("validate an events file, or a live feed on stdin (-), and publish each event to its "
        "topic (invalid -> .rejected)")
EXAMPLES = """  greekstream produce events.jsonl --bootstrap 127.0.0.1:9092
  greekstream produce events.jsonl --bootstrap kafka:9092 --prefix desk1 --quiet
  venue-adapter | greekstream produce - --bootstrap kafka:9092      # live: lines as they come
  tail -n +1 -f events.jsonl | greekstream produce - --bootstrap 127.0.0.1:9092
  venue-adapter | greekstream produce - --bootstrap kafka:9092 --max-ahead 60   # tighter bound
A live input (-) is published line by line; when it has been idle for the processors'
emission window (GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS, default 100 ms) the gateway publishes
one tick, so a quiet market's last window still closes. Its gs-seqs start at --first-seq
(default: the wall clock in microseconds, above any earlier run's); the closing line says
where the next run of the same stream must start. A live record dated more than
--max-ahead seconds (default 3600) past the wall clock is rejected as ts_ahead.
exit status: 0 when every line was published, 1 when some lines were rejected
(they are in <prefix>.rejected with their reason and FILE:LINE, or stdin:LINE), 2 on errors
(an unreachable broker: one line after --connect-timeout seconds). SIGTERM or SIGINT stops
a live gateway after publishing what it has read (no end-of-input tick).
"""

MAX_FIRST_SEQ = 1 << 62  # a gs-seq is a non-negative int64 (kafka/processor.py): room above


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("events", help="a .jsonl file of events (docs/contract.md), one per line; "
                                  "- reads them from stdin as they come (a live feed)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    p.add_argument("--prefix", help="topic name prefix (default: greekstream)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--first-seq", type=int, metavar="N",
                   help="gs-seq of the first record; a stream's seqs must increase across "
                        "runs of the gateway. A file's line L gets N + L - 1 (default N = 1: "
                        "the line number); a live input's records and ticks get N, N + 1, ... "
                        "(default: the wall clock in microseconds)")
    p.add_argument("--max-ahead", type=float, metavar="SECONDS", default=None,
                   help="a live input (-) only: reject (ts_ahead) a record dated more than "
                        "this past the wall clock, as a Kafka broker bounds a timestamp "
                        "(default 3600; 0 = no limit)")
    reach.add_arguments(p, connect_timeout_s=10.0)


def numbered_lines(path: Path, first_seq: int = 1) -> Iterator[tuple[int, bytes, str]]:
    """(gs-seq, raw line, "FILE:LINE") of every non-blank line; the gs-seq is the line
    number + ``first_seq`` - 1."""
    from greekstream.runtime.replay import read_records

    for raw, source in read_records(path):
        yield int(source.rsplit(":", 1)[1]) + first_seq - 1, raw, source


def run(args: argparse.Namespace) -> int:
    from greekstream.kafka.gateway import Gateway
    from greekstream.kafka.ops import json_logging
    from greekstream.kafka.topics import Topics
    from greekstream.runtime.progress import Progress

    live = args.events == "-"
    path = Path(args.events)
    if live:
        _require_stdin()
    elif not path.is_file():
        said = (f"{path} is a directory, not an events file" if path.is_dir()
                else f"no such events file: {path}")
        raise UsageError(said,
                         hint="pass the path of a .jsonl file, or - to read a live feed from "
                              "stdin")
    first_seq = _first_seq(args.first_seq, live)
    live_ahead_s = _max_ahead(args.max_ahead, live)
    from greekstream.commands.topics import kafka_client_settings

    settings = kafka_client_settings()
    json_logging(settings.log_level)
    base = settings.kafka
    kafka = base.model_copy(update={
        k: v for k, v in (("bootstrap_servers", args.bootstrap), ("topic_prefix", args.prefix))
        if v
    })
    from greekstream.settings import engine_settings

    # the processors' engine settings (GREEKSTREAM_ENGINE__*, or the engine section of
    # GREEKSTREAM_SETTINGS_FILE): the end of the input is a tick emit_interval_ms past its
    # last event, and so is a live input's idle spell; a book record dated more than
    # max_ts_ahead_s past the market opens no window (the processors reject it)
    engine = engine_settings()
    conf = {**kafka.client_config(), **reach.client_overrides(args)}
    reach.require_broker(conf, args.connect_timeout)
    gateway = Gateway(conf, Topics(kafka.topic_prefix), idle_tick_ms=engine.emit_interval_ms,
                      max_ts_ahead_s=engine.max_ts_ahead_s, live_max_ahead_s=live_ahead_s)
    if live:
        stopped = _publish_live(gateway, quiet=args.quiet, first_seq=first_seq)
    else:
        stopped = None
        gateway.publish(numbered_lines(path, first_seq),
                        Progress("produce", enabled=not args.quiet))
    report = gateway.report
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(report.reasons.items()))
    seqs = ""
    if report.first_seq is not None:
        seqs = (f"; gs-seq {report.first_seq}..{gateway.last_seq}, a next run of this stream "
                f"starts at --first-seq {gateway.last_seq + 1} or above")
    print(f"produce: {report.published:,} events published, {report.rejected:,} rejected"
          + (f" ({reasons})" if reasons else "") + (f", {report.ticks:,} ticks" if live else "")
          + seqs + (f"; stopped by {stopped}, before the end of the input" if stopped else ""),
          file=sys.stderr)
    return 1 if report.rejected else 0


def _publish_live(gateway: Gateway, quiet: bool, first_seq: int) -> str | None:
    """Publish stdin as it comes until its end or SIGTERM/SIGINT; the signal's name when
    one stopped it."""
    import os
    import signal

    from greekstream.runtime.live_lines import LiveLines
    from greekstream.runtime.progress import Progress

    terminal = os.isatty(0)
    if terminal and not quiet:
        print("produce: reading events from the terminal, one JSON object a line; Ctrl-D "
              "ends the input", file=sys.stderr)
    stopped: list[str] = []

    def stop(signum: int, _frame: object) -> None:
        stopped.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    lines = LiveLines(0)
    try:
        # no progress redraws over what is being typed on the terminal
        gateway.publish_live(lines, Progress("produce", enabled=not (quiet or terminal)),
                             first_seq, stop=lambda: bool(stopped))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return stopped[0] if stopped and not lines.eof else None


def _require_stdin() -> None:
    import os

    try:
        os.fstat(0)
    except OSError as exc:
        raise UsageError(f"cannot read stdin: {exc.strerror}",
                         hint="pipe the events in: venue-adapter | greekstream produce - "
                              "--bootstrap HOST:PORT") from exc


def _first_seq(given: int | None, live: bool) -> int:
    """--first-seq, or its default: 1 for a file (seq = line number), the wall clock in
    microseconds for a live input (a restart starts above an earlier run's seqs while
    that run published fewer than a million records a second)."""
    import time

    if given is None:
        return time.time_ns() // 1000 if live else 1
    if not 0 <= given <= MAX_FIRST_SEQ:
        raise UsageError(f"--first-seq {given} is out of range",
                         hint=f"pass a whole number from 0 to {MAX_FIRST_SEQ} (2^62), above "
                              "the last run's last gs-seq (its closing line names it)")
    return given


def _max_ahead(given: float | None, live: bool) -> float:
    """--max-ahead: a live input's bound on how far past the wall clock a record is dated."""
    from greekstream.kafka.gateway import LIVE_MAX_AHEAD_S

    if given is None:
        return LIVE_MAX_AHEAD_S
    if not live:
        raise UsageError("--max-ahead applies to a live input (-) only",
                         hint="a file is history: drop --max-ahead, or read it as a live "
                              "input: cat FILE | greekstream produce - ...")
    if not (given >= 0 and given != float("inf")):
        raise UsageError(f"--max-ahead {given:g} is not a number of seconds",
                         hint="pass 0 (no limit) or more, e.g. --max-ahead 3600")
    return given
