"""`greekstream topics create`: the Kafka topics with their partition counts and configs."""

from __future__ import annotations

import argparse
import sys

from greekstream.kafka import reach
from greekstream.kafka.topics import (
    DEFAULT_BOOK_PARTITIONS,
    DEFAULT_MARKET_PARTITIONS,
    Topics,
    create_topics,
    partition_counts,
)
from greekstream.settings import KafkaClientSettings

MAX_PARTITIONS = 2**31 - 1  # a topic's partition count is an int32 in Kafka's protocol

HELP = "create the greekstream Kafka topics (inputs, outputs, checkpoints)"
EXAMPLES = """  greekstream topics create --bootstrap 127.0.0.1:9092
  greekstream topics create --bootstrap kafka:9092 --partitions 12 --market-partitions 3
  greekstream topics list --partitions 12           # what would be created, no broker needed
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("create", "list"), help="create the topics, or list them")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: settings)")
    p.add_argument("--prefix", help="topic name prefix (default: greekstream)")
    p.add_argument("--partitions", type=int, default=DEFAULT_BOOK_PARTITIONS,
                   help="partitions of the book-keyed, output and checkpoint topics "
                        f"(the processor's parallelism; default {DEFAULT_BOOK_PARTITIONS})")
    p.add_argument("--market-partitions", type=int, default=DEFAULT_MARKET_PARTITIONS,
                   help=f"partitions of instruments/quotes/index (default "
                        f"{DEFAULT_MARKET_PARTITIONS})")
    reach.add_arguments(p, connect_timeout_s=10.0)


def kafka_client_settings() -> KafkaClientSettings:
    """The Kafka connection's settings (topics, produce); a bad GREEKSTREAM_KAFKA__* value
    or settings file is a ConfigError naming it (it was a pydantic traceback)."""
    from greekstream.commands._common import load_settings

    return load_settings(KafkaClientSettings, "Kafka")


def run(args: argparse.Namespace) -> int:
    from greekstream.errors import UsageError

    for flag, count in (("--partitions", args.partitions),
                        ("--market-partitions", args.market_partitions)):
        if not 1 <= count <= MAX_PARTITIONS:
            raise UsageError(f"bad {flag} {count}: a partition count is from 1 to "
                             f"{MAX_PARTITIONS:,} (Kafka's int32)",
                             hint=f"e.g. {flag} 12 (one processor per partition at most)")
    base = kafka_client_settings().kafka
    kafka = base.model_copy(update={
        k: v for k, v in (("bootstrap_servers", args.bootstrap), ("topic_prefix", args.prefix))
        if v
    })
    specs = Topics(kafka.topic_prefix).specs(args.partitions, args.market_partitions)
    status = {s.name: "" for s in specs}
    actual = {s.name: s.partitions for s in specs}
    if args.action == "create":
        conf = {**kafka.client_config(), **reach.client_overrides(args)}
        reach.require_broker(conf, args.connect_timeout)
        status = create_topics(conf, specs)
        existing = [s.name for s in specs if status[s.name] == "exists"]
        if existing:  # as they are: `create` never alters a topic
            actual.update(partition_counts(conf, existing))
    differ = [s for s in specs if actual[s.name] != s.partitions]
    for spec in specs:
        config = ",".join(f"{k}={v}" for k, v in spec.config.items())
        note = f" (asked for {spec.partitions}: not changed)" if spec in differ else ""
        print(f"{spec.name:32} {actual[spec.name]:3d} partitions  {config:28} "
              f"{status[spec.name]}{note}")
    if differ:
        print(f"greekstream topics: warning: {len(differ)} existing topic(s) have another "
              "partition count than asked, and keep it: `topics create` never alters a "
              "topic, and adding partitions in place is not supported (a book's new records "
              "would go to another partition than its state; docs/deploy.md, 3. Scaling)",
              file=sys.stderr)
    return 0
