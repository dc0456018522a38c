"""`greekstream process`: the exactly-once stream processor."""

from __future__ import annotations

import argparse
import logging

from greekstream.commands._common import consumer_settings, port, stop_on_signals
from greekstream.kafka import reach
from greekstream.settings import ProcessorSettings

HELP = "run the exactly-once stream processor (consumer group; outputs in Kafka transactions)"
EXAMPLES = """  greekstream process --bootstrap 127.0.0.1:9092
  GREEKSTREAM_KAFKA__SASL_MECHANISM=SCRAM-SHA-512 GREEKSTREAM_KAFKA__SECURITY_PROTOCOL=SASL_SSL \\
    GREEKSTREAM_KAFKA__SASL_USERNAME=risk GREEKSTREAM_KAFKA__SASL_PASSWORD=... greekstream process
  curl -s localhost:8080/readyz; curl -s localhost:8080/metrics
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    p.add_argument("--prefix", help="topic name prefix (default: greekstream)")
    p.add_argument("--group", help="consumer group id (default: greekstream-processor)")
    p.add_argument("--instance", help="stable instance id (transactional id; default: hostname)")
    p.add_argument("--port", type=port, help="/healthz /readyz /metrics port (default: 8080)")
    reach.add_arguments(p, connect_timeout_s=60.0)


def settings_from(args: argparse.Namespace) -> ProcessorSettings:
    def changes(base: ProcessorSettings) -> dict[str, object]:
        kafka = {k: v for k, v in (("bootstrap_servers", args.bootstrap),
                                   ("topic_prefix", args.prefix)) if v}
        out: dict[str, object] = {"kafka": base.kafka.model_copy(update=kafka)}
        if args.instance:
            out["instance_id"] = args.instance
        return out

    return consumer_settings(ProcessorSettings, "processor", args, changes)


def run(args: argparse.Namespace) -> int:
    from greekstream.kafka.ops import json_logging, serve_ops
    from greekstream.kafka.processor import Processor

    settings = settings_from(args)
    json_logging(settings.log_level)
    processor = Processor(settings, client_overrides=reach.client_overrides(args),
                          connect_timeout_s=args.connect_timeout)
    server = serve_ops(settings.http.host, settings.http.port, processor.health, processor.ready,
                       processor.metrics)
    log = logging.getLogger("greekstream.process")
    stop_on_signals(processor.stop, log)
    log.info(
        "started", extra={"event": "started", "instance": processor.instance})
    try:
        processor.run()
    finally:
        server.shutdown()
        server.server_close()
    return 0
