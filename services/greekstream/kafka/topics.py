"""Topic names, their partitioning and configs, and which topic each event type goes to.

Book-keyed inputs (trades, onchain, limits, margin) share one partition count so a
book's events land on the same partition number of each (co-partitioned); market
data (instruments, quotes, index) is read in full by every processor (broadcast).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from greekstream.core.events import INPUTS, OUTPUTS, topics_of

# every name below comes from the event registry (core/events.py INPUTS, OUTPUTS)
BOOK_SUFFIXES = topics_of(t for t in INPUTS.values() if t.book_keyed)
MARKET_SUFFIXES = tuple(s for s in topics_of(INPUTS.values()) if s not in BOOK_SUFFIXES)
OUTPUT_SUFFIXES = topics_of(OUTPUTS.values())
CHECKPOINTS = "checkpoints"

DEFAULT_BOOK_PARTITIONS = 6
DEFAULT_MARKET_PARTITIONS = 3

# input event type -> (topic suffix, the field whose value is the record key)
ROUTES: dict[str, tuple[str, str]] = {name: (t.topic, t.key) for name, t in INPUTS.items()}
# output event type -> topic suffix
OUTPUT_ROUTES: dict[str, str] = {name: t.topic for name, t in OUTPUTS.items()}

_FOREVER = {"retention.ms": "-1"}
_WEEK = {"retention.ms": str(7 * 24 * 3600 * 1000)}
_COMPACT = {"cleanup.policy": "compact"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Topics:
    """Every topic name for one prefix, e.g. ``Topics("greekstream").quotes``."""

    prefix: str = "greekstream"

    def name(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    @property
    def book_topics(self) -> list[str]:
        return [self.name(s) for s in BOOK_SUFFIXES]

    @property
    def market_topics(self) -> list[str]:
        return [self.name(s) for s in MARKET_SUFFIXES]

    @property
    def checkpoints(self) -> str:
        return self.name(CHECKPOINTS)

    def for_input(self, event_type: str) -> str:
        return self.name(ROUTES[event_type][0])

    def for_output(self, event_type: str) -> str:
        return self.name(OUTPUT_ROUTES[event_type])

    def specs(
        self, book_partitions: int = DEFAULT_BOOK_PARTITIONS,
        market_partitions: int = DEFAULT_MARKET_PARTITIONS,
    ) -> list[TopicSpec]:
        """The documented layout (docs/streaming.md#topics)."""
        n, m = book_partitions, market_partitions
        return [
            TopicSpec(self.name("instruments"), m, {**_COMPACT}),
            TopicSpec(self.name("quotes"), m, {**_WEEK}),
            TopicSpec(self.name("index"), m, {**_WEEK}),
            *(TopicSpec(t, n, {**_FOREVER}) for t in self.book_topics),
            *(TopicSpec(self.name(s), n, {**_WEEK}) for s in OUTPUT_SUFFIXES),
            # one checkpoint partition per book partition: checkpoint of partition p
            # lives in partition p (keys "snapshot" and "progress")
            TopicSpec(self.checkpoints, n, {**_COMPACT}),
        ]


def create_topics(conf: dict[str, Any], specs: list[TopicSpec], timeout_s: float = 30.0) -> dict[
    str, str
]:
    """Create the topics that do not exist yet; returns {topic: "created" | "exists"}."""
    from confluent_kafka import KafkaException

    # re-exported by confluent_kafka.admin without __all__ (its stubs: attr-defined)
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    from greekstream.errors import KafkaError

    admin = AdminClient(conf)
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise KafkaError(
            f"cannot reach Kafka at {conf.get('bootstrap.servers')}: {exc}",
            hint="check --bootstrap and that the broker is running",
        ) from exc
    result = {s.name: "exists" for s in specs if s.name in existing}
    new = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=-1, config=s.config)
        for s in specs if s.name not in existing
    ]
    if not new:
        return result
    for name, future in admin.create_topics(new, request_timeout=timeout_s).items():
        try:
            future.result(timeout_s)
            result[name] = "created"
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" in str(exc):
                result[name] = "exists"
                continue
            raise KafkaError(f"cannot create topic {name}: {exc}") from exc
    return result


def partition_counts(conf: dict[str, Any], names: list[str], timeout_s: float = 10.0) -> dict[
    str, int
]:
    """Partition count of each named topic (0 when it does not exist)."""
    from confluent_kafka.admin import AdminClient

    meta = AdminClient(conf).list_topics(timeout=timeout_s)
    return {n: len(meta.topics[n].partitions) if n in meta.topics else 0 for n in names}
