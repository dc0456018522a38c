"""`greekstream sink`: every input and output Kafka topic into ClickHouse history."""

from __future__ import annotations

import argparse
import logging

from pydantic import SecretStr

from greekstream.commands._common import consumer_settings, port, stop_on_signals
from greekstream.history.client import require_engine
from greekstream.history.sink import Sink
from greekstream.kafka import reach
from greekstream.kafka.ops import json_logging, serve_ops
from greekstream.settings import SinkSettings

HELP = "consume every greekstream topic and store it in ClickHouse (offsets after rows)"
EXAMPLES = """  greekstream sink --bootstrap 127.0.0.1:9092 --dsn chdb:///var/lib/greekstream/chdb
  GREEKSTREAM_CLICKHOUSE_DSN=http://default:secret@clickhouse:8123/greekstream greekstream sink
  curl -s localhost:8081/healthz     # 200 ok / 503 while ClickHouse is down
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    p.add_argument("--dsn", help="ClickHouse DSN (default: GREEKSTREAM_CLICKHOUSE_DSN)")
    p.add_argument("--group", help="consumer group id (default: greekstream-sink)")
    p.add_argument("--port", type=port, help="/healthz port (default: 8081)")
    reach.add_arguments(p, connect_timeout_s=60.0)


def settings_from(args: argparse.Namespace) -> SinkSettings:
    def changes(base: SinkSettings) -> dict[str, object]:
        out: dict[str, object] = {}
        if args.bootstrap:
            out["kafka"] = base.kafka.model_copy(update={"bootstrap_servers": args.bootstrap})
        if args.dsn:
            out["clickhouse_dsn"] = SecretStr(args.dsn)
        return out

    return consumer_settings(SinkSettings, "sink", args, changes)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    json_logging(settings.log_level)
    # a chdb:// DSN without chDB installed fails now, not after the broker check
    require_engine(settings.clickhouse_dsn.get_secret_value())
    overrides = reach.client_overrides(args)
    reach.require_broker({**settings.kafka.client_config(), **overrides}, args.connect_timeout)
    sink = Sink(settings, overrides)
    server = serve_ops(settings.http.host, settings.http.port, sink.health.as_dict)
    log = logging.getLogger("greekstream.sink")
    stop_on_signals(sink.stop, log)
    log.info(
        "started", extra={"event": "started", "group": settings.group_id})
    try:
        sink.run()
    finally:
        server.shutdown()
        server.server_close()
    return 0
