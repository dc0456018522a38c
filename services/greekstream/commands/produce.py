"""`greekstream produce`: the gateway from an events file to the input topics."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from greekstream.errors import UsageError
from greekstream.kafka import reach
from greekstream.settings import KafkaClientSettings

HELP = "validate an events file and publish each event to its topic (invalid -> .rejected)"
EXAMPLES = """  greekstream produce events.jsonl --bootstrap 127.0.0.1:9092
  greekstream produce events.jsonl --bootstrap kafka:9092 --prefix desk1 --quiet
exit status: 0 when every line was published, 1 when some lines were rejected
(they are in <prefix>.rejected with their reason and FILE:LINE), 2 on errors (an
unreachable broker: one line after --connect-timeout seconds).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("events", help="a .jsonl file of events (docs/contract.md), one per line")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    p.add_argument("--prefix", help="topic name prefix (default: greekstream)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    reach.add_arguments(p, connect_timeout_s=10.0)


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes, str]]:
    """(line number, raw line, "FILE:LINE") of every non-blank line; the line number is
    the record's gs-seq."""
    from greekstream.runtime.replay import read_records

    for raw, source in read_records(path):
        yield int(source.rsplit(":", 1)[1]), raw, source


def run(args: argparse.Namespace) -> int:
    from greekstream.kafka.gateway import Gateway
    from greekstream.kafka.ops import json_logging
    from greekstream.kafka.topics import Topics
    from greekstream.runtime.progress import Progress

    path = Path(args.events)
    if not path.is_file():
        raise UsageError(f"no such events file: {path}", hint="pass the path of a .jsonl file")
    settings = KafkaClientSettings()
    json_logging(settings.log_level)
    base = settings.kafka
    kafka = base.model_copy(update={
        k: v for k, v in (("bootstrap_servers", args.bootstrap), ("topic_prefix", args.prefix))
        if v
    })
    from greekstream.settings import EngineSettings

    # the processors' emission window (GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS): the end of
    # the file is a tick that far past its last event
    idle_ms = _emit_interval_ms(EngineSettings)
    conf = {**kafka.client_config(), **reach.client_overrides(args)}
    reach.require_broker(conf, args.connect_timeout)
    gateway = Gateway(conf, Topics(kafka.topic_prefix), idle_tick_ms=idle_ms)
    gateway.publish(numbered_lines(path), Progress("produce", enabled=not args.quiet))
    report = gateway.report
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(report.reasons.items()))
    print(f"produce: {report.published:,} events published, {report.rejected:,} rejected"
          + (f" ({reasons})" if reasons else ""), file=sys.stderr)
    return 1 if report.rejected else 0


def _emit_interval_ms(settings: type[BaseModel]) -> int:
    import os

    raw = os.environ.get("GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS")
    default = int(settings.model_fields["emit_interval_ms"].default)
    try:
        return max(int(raw), 0) if raw else default
    except ValueError as exc:
        raise UsageError(f"GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS={raw!r} is not a whole number",
                         hint="set it to the processors' emit_interval_ms, e.g. 100") from exc
