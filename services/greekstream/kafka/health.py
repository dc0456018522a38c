"""The processor's health and lag, each a small part of its own (kafka/processor.py holds
one of each): what ``/healthz`` answers, and the lag and checkpoint-age metrics."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from greekstream.kafka.epoch import Epoch
from greekstream.kafka.ops import Metrics

log = logging.getLogger("greekstream.process")

Clock = Callable[[], float]


class Liveness:
    """``/healthz``: unhealthy once the loop has not turned for ``stuck_after_s``; the last
    broker trouble seen, logged once per distinct message (a broker that stays away does
    not flood the log).

    A client call that blocks for a bounded time (a flush, an abort, ``init_transactions``:
    up to 60 s each, and a failing commit chains several) is declared with
    :meth:`waiting`: the loop counts as turning for that bound more, so a broker outage
    ridden out inside the commit path does not turn the pod unhealthy (the chart kills it
    after 60 s of 503s, mid-wait), while a call wedged past its own bound still does."""

    def __init__(self, instance: str, stuck_after_s: float = 60.0,
                 clock: Clock = time.monotonic) -> None:
        self.instance = instance
        self.stuck_after_s = stuck_after_s
        self.clock = clock
        self.last_loop = clock()  # when the loop last turned
        self.last_error = ""
        self.allowance = 0.0  # the bound of the call the loop is blocked in (waiting)

    def beat(self) -> float:
        """The loop turns now; returns the time."""
        self.last_loop = now = self.clock()
        return now

    @contextlib.contextmanager
    def waiting(self, bound_s: float) -> Iterator[None]:
        """The loop is blocked in a call that returns within ``bound_s``: it beats on
        entry and on exit, and is not stuck until ``bound_s`` + ``stuck_after_s`` after
        the entry."""
        outer = self.allowance
        self.beat()
        self.allowance = max(outer, bound_s)
        try:
            yield
        finally:
            self.allowance = outer
            self.beat()

    def trouble(self, text: str) -> None:
        if text != self.last_error:
            log.warning("kafka: %s", text, extra={"event": "broker_trouble"})
            self.last_error = text

    def report(self) -> dict[str, Any]:
        stuck = self.clock() - self.last_loop > self.stuck_after_s + self.allowance
        return {"status": "unhealthy" if stuck else "ok", "instance": self.instance,
                "last_error": self.last_error}


class Lag:
    """The consumer lag of every partition the epoch reads (high watermark − next offset,
    from the consumers' cached watermarks) and the checkpoint age, as metrics, refreshed
    at most every ``every_s``."""

    def __init__(self, metrics: Metrics, every_s: float = 0.5, clock: Clock = time.monotonic
                 ) -> None:
        self.metrics = metrics
        self.every_s = every_s
        self.clock = clock
        self.last = 0.0  # when the metrics were last refreshed

    def due(self, now: float) -> bool:
        return now - self.last > self.every_s

    def update(self, epoch: Epoch | None, consumer_of: Callable[[str], Any],
               last_checkpoint: float) -> None:
        """Refresh the metrics (none without an epoch); ``consumer_of(topic)`` is the
        consumer that reads the topic (its ``get_watermark_offsets``)."""
        self.last = self.clock()
        if epoch is None:
            return
        for (t, p), nxt in epoch.next_offsets.items():
            try:
                _low, high = consumer_of(t).get_watermark_offsets(TopicPartition(t, p),
                                                                   cached=True)
            except KafkaException:
                continue
            if high >= 0:
                self.metrics.lag.labels(t, str(p)).set(max(0, high - max(nxt, 0)))
        self.metrics.checkpoint_age.set(self.clock() - last_checkpoint)


__all__ = ["Lag", "Liveness"]
