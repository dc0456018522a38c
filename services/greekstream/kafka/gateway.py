"""The gateway: validate each line of an events file and publish it to its topic.

Every record carries a ``gs-seq`` header (the line number) that the processor merges
on, so it sees the file's order across topics and partitions (docs/streaming.md).
Invalid lines go to ``.rejected`` as ``rejected`` events; an unknown instrument is
state, so only the processor can reject it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException, Producer

from greekstream.core.engine import output_id
from greekstream.core.events import DecodeError, Rejected, decode_event, encode
from greekstream.errors import KafkaError
from greekstream.kafka.topics import ROUTES, Topics, partition_counts
from greekstream.progress import Progress

SEQ_HEADER = "gs-seq"


@dataclass
class GatewayReport:
    published: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    delivery_errors: list[str] = field(default_factory=list)


class Gateway:
    def __init__(self, conf: dict[str, Any], topics: Topics, linger_ms: int = 5) -> None:
        self.topics = topics
        self.report = GatewayReport()
        self.producer = Producer({
            **conf,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
            "partitioner": "murmur2_random",  # the same partition for a key as Java clients
            "queue.buffering.max.messages": 1_000_000,
        })
        onchain = topics.name("onchain")
        counts = partition_counts(conf, [onchain])
        if not counts[onchain]:
            raise KafkaError(
                f"topic {onchain} does not exist",
                hint="create the topics first: greekstream topics create --bootstrap HOST:PORT",
            )
        self.onchain_partitions = counts[onchain]

    def publish(self, records: Iterable[tuple[int, bytes, str]], progress: Progress) -> None:
        """Publish (seq, raw line, "FILE:LINE") records in order, then wait for delivery."""
        for seq, raw, source in records:
            self._publish_one(seq, raw, source)
            progress.advance()
        self.flush()
        progress.done()

    def _publish_one(self, seq: int, raw: bytes, source: str) -> None:
        headers = [(SEQ_HEADER, str(seq).encode())]
        try:
            event = decode_event(raw)
        except DecodeError as exc:
            self._reject(exc, raw, source, headers)
            return
        suffix_key = ROUTES[event.type][1]
        key = str(getattr(event, suffix_key)).encode()
        topic = self.topics.for_input(event.type)
        if event.type == "reorg":
            for partition in range(self.onchain_partitions):
                self._produce(topic, raw, key, headers, partition)
        else:
            self._produce(topic, raw, key, headers)
        self.report.published += 1

    def _reject(self, exc: DecodeError, raw: bytes, source: str, headers: list[Any]) -> None:
        text = raw.decode("utf-8", errors="replace")
        rejected = Rejected(
            event_id=output_id("rejected", source, text), ts=exc.ts, reason=exc.reason,
            detail=exc.detail, source=source, raw=text,
        )
        self._produce(self.topics.for_output("rejected"), encode(rejected), None, headers)
        self.report.rejected += 1
        self.report.reasons[exc.reason] = self.report.reasons.get(exc.reason, 0) + 1

    def _produce(self, topic: str, value: bytes, key: bytes | None, headers: list[Any],
                 partition: int = -1) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, partition=partition, headers=headers,
                                      on_delivery=self._delivered)
                return
            except BufferError:
                self.producer.poll(0.05)  # the local queue is full: let it drain
            except KafkaException as exc:
                raise KafkaError(f"cannot publish to {topic}: {exc}") from exc

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None and len(self.report.delivery_errors) < 10:
            self.report.delivery_errors.append(str(err))

    def flush(self, timeout_s: float = 60.0) -> None:
        left = self.producer.flush(timeout_s)
        if left or self.report.delivery_errors:
            raise KafkaError(
                f"{left} records not delivered; errors: {self.report.delivery_errors[:3]}",
                hint="check that the broker is reachable and the topics exist",
            )
