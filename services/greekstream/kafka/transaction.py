"""One Kafka transaction of the processor: what is in flight, and the order it commits in.

A :class:`Transaction` owns the batch between two commits: the outputs produced (kept
for the metrics of the commit), how many records were applied, when the batch started,
how much was applied since the last checkpoint, and the group offsets the last commit
sent. :meth:`Transaction.commit` commits it in this order, all in one Kafka transaction
(nothing is visible to ``read_committed`` readers until all of it is):

    1. outputs      produced as the batch's records were applied (:meth:`produce`)
    2. snapshots    of every owned partition, when a checkpoint is due; their offsets
                    are noted in the epoch, for the progress records
    3. flush        every output delivered before the progress that covers it (a broker
                    that shows an aborted transaction's records, Tansu, then never shows a
                    progress whose outputs are not all there)
    4. progress     one record per owned partition: position, snapshot offset, output floor
    5. offsets      the book topics' group offsets, when they moved since the last
                    commit or the transaction holds outputs (an idle checkpoint does not
                    wait on the group coordinator)
    6. commit

A failure of any step raises :class:`CommitFailed`, the batch still in flight: a
broker's error (a KafkaException), records not delivered within DELIVERY_DEADLINE_S
(:class:`Undelivered`), or a producer that can no longer be trusted
(:class:`ProducerWedged`). The caller aborts the transaction (or replaces the producer),
:meth:`discard`\\ s the batch and restores the epoch from the committed checkpoints
(processor.py ``_producer_failed``). Kafka is reached only through :class:`TxnProducer`,
the seam the processor implements over confluent-kafka and unit tests implement with a
fake.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from confluent_kafka import KafkaException

from greekstream.core.events import encode
from greekstream.kafka.checkpoints import PART_HEADER, POS_HEADER, PROGRESS, snapshot_records
from greekstream.kafka.epoch import Emitted, Epoch
from greekstream.kafka.topics import Topics
from greekstream.settings import ProcessorSettings

log = logging.getLogger("greekstream.process")

Offsets = list[tuple[str, int, int]]  # (topic, partition, next offset)

# A batch lasts at least this many times as long as the last commit took, however short
# batch_max_ms is. The commit counted is progress, offsets and commit: the cost per
# transaction, not the snapshots nor the wait for the outputs' delivery (which grows
# with the batch, and would stretch it further). With a fast broker batch_max_ms
# governs; with a slow one (a busy broker commits a transaction in 10-100 ms), batches
# of batch_max_ms would spend up to half the time committing, and a processor behind
# its input would fall further behind: stretched, committing takes at most a fifth of
# it, while a commit takes under BATCH_STRETCH_MAX / BATCH_PER_COMMIT times
# batch_max_ms (125 ms by default). The stretch stops at BATCH_STRETCH_MAX times
# batch_max_ms (500 ms): one commit slowed by an outage must not hold the next batch's
# outputs for seconds. A processor that has caught up commits at once, whatever the
# batch's age (batch_due), and batch_max_events ends a batch in any case.
BATCH_PER_COMMIT = 4
BATCH_STRETCH_MAX = 10
# how long a commit waits for its outputs (and a checkpoint for its snapshots) to be
# delivered before it gives up on the transaction (an abort purges what is still queued)
DELIVERY_DEADLINE_S = 30.0


class ProducerWedged(Exception):
    """The transactional producer can no longer be trusted with the transaction: a call
    did not return within its deadline, or failed inside the client library (a
    SystemError out of confluent-kafka's C layer). It is replaced, not aborted."""


class Undelivered(Exception):
    """Records of the transaction were not delivered within DELIVERY_DEADLINE_S (a broker
    out of reach): no progress may follow them, so the transaction is aborted."""


class CommitFailed(Exception):
    """A step of the commit failed: the transaction must be aborted (or its producer
    replaced). ``cause`` is the producer's error: a KafkaException, :class:`Undelivered`
    or :class:`ProducerWedged`."""

    def __init__(self, cause: KafkaException | Undelivered | ProducerWedged) -> None:
        super().__init__(str(cause))
        self.cause = cause


class TxnProducer(Protocol):
    """The transactional producer as a :class:`Transaction` uses it."""

    def begin(self) -> None: ...

    def send(self, topic: str, value: bytes, key: bytes | None, partition: int = -1,
             on_delivery: Any = None, headers: list[tuple[str, bytes]] | None = None) -> None:
        """Queue one record; ``on_delivery(err, msg)`` once the broker has it."""

    def flush(self, timeout_s: float) -> int:
        """Wait for the queued records; returns how many are still undelivered."""

    def send_offsets(self, offsets: Offsets) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class Transaction:
    def __init__(self, producer: TxnProducer, topics: Topics, settings: ProcessorSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.producer = producer
        self.topics = topics
        self.settings = settings
        self.clock = clock
        self.open = False  # begin_transaction called, not yet committed or aborted
        self.unfinished = False  # an abort failed: the producer may still hold a transaction
        self.emitted: list[Emitted] = []  # the outputs produced in it
        self.failed = 0  # its outputs whose delivery failed (a timeout, ...)
        self.first_failure: Any = None  # the first of their errors
        self.events = 0  # records applied in it
        self.started = 0.0  # when its first record was applied
        self.last_checkpoint = clock()
        self.since_checkpoint = 0  # records applied since the last checkpoint
        self.sent_offsets: Offsets = []  # the group offsets the last commit sent
        self.commit_s = 0.0  # how long the last commit took (BATCH_PER_COMMIT)

    # ------------------------------------------------------------------ the batch

    def begin(self) -> None:
        if not self.open:
            if self.unfinished:  # an abort that failed: resumed before anything else
                self.abort()
            self.producer.begin()
            self.open = True

    def starting(self) -> None:
        """A record is about to be applied: the batch starts now if it is empty."""
        if not self.events:
            self.started = self.clock()

    def applied(self, n: int) -> None:
        self.events += n
        self.since_checkpoint += n

    def produce(self, epoch: Epoch, emitted: list[Emitted]) -> None:
        """Step 1: the outputs of one applied record, tagged with their book partition
        and merge position (how recovery finds them, checkpoints.py)."""
        self.begin()
        for e in emitted:
            out = e.output
            topic, value = self.topics.for_output(out.type), encode(out)
            if epoch.already_visible(e, topic, value):
                continue  # shown already by a transaction that did not commit (Tansu)
            headers = [(PART_HEADER, str(e.partition).encode()),
                       (POS_HEADER, orjson.dumps(e.pos))]
            self.producer.send(topic, value, e.key, on_delivery=self._delivered,
                               headers=headers)
            self.emitted.append(e)

    def _delivered(self, err: Any, msg: Any) -> None:
        """An output's delivery report: a failure (its message timeout passed while the
        broker was away) leaves it out of the transaction, though no longer queued."""
        if err is not None:
            self.failed += 1
            if self.first_failure is None:
                self.first_failure = err

    def batch_due(self, got: int) -> bool:
        s = self.settings
        if self.events >= s.batch_max_events:
            return True
        if self.batch_timed_out():
            return True
        return not got  # caught up: commit now rather than wait (latency)

    def batch_timed_out(self) -> bool:
        """The batch has lasted ``batch_max_ms`` since its first record was applied, and
        at least BATCH_PER_COMMIT times as long as the last commit took (at most
        BATCH_STRETCH_MAX times ``batch_max_ms``)."""
        age_ms = (self.clock() - self.started) * 1000
        limit_ms = self.settings.batch_max_ms
        stretched = min(BATCH_PER_COMMIT * self.commit_s * 1000, BATCH_STRETCH_MAX * limit_ms)
        return age_ms >= limit_ms and age_ms >= stretched

    def checkpoint_due(self) -> bool:
        s = self.settings
        return (self.since_checkpoint >= s.checkpoint_every_events
                or self.clock() - self.last_checkpoint >= s.checkpoint_interval_s)

    def pending(self, checkpoint: bool) -> bool:
        """Anything to commit: a batch, an open transaction, or (with ``checkpoint``)
        records applied since the last checkpoint."""
        return bool(self.events or self.open or (checkpoint and self.since_checkpoint))

    # ------------------------------------------------------------------ committing

    def commit(self, epoch: Epoch, checkpoint: bool, out_floor: dict[str, int]) -> list[Emitted]:
        """Steps 2-6 (module docstring); returns the outputs now committed. Raises
        :class:`CommitFailed` if a step fails, leaving the batch in flight."""
        try:
            self._commit(epoch, checkpoint, out_floor)
        except (KafkaException, Undelivered, ProducerWedged) as exc:
            raise CommitFailed(exc) from exc
        done = self.emitted
        self.discard()
        if checkpoint:
            self.last_checkpoint = self.clock()
            self.since_checkpoint = 0
        return done

    def _commit(self, epoch: Epoch, checkpoint: bool, out_floor: dict[str, int]) -> None:
        self.begin()
        if checkpoint:
            self._write_snapshots(epoch)
        # every output delivered before the progress that covers it: a broker that shows
        # an aborted transaction's records (Tansu) then never shows a progress whose
        # outputs are not all there
        left = self.producer.flush(DELIVERY_DEADLINE_S)
        if left > 0:
            raise Undelivered(f"{left} outputs not delivered within {DELIVERY_DEADLINE_S:g} s")
        # a failed delivery is no longer queued: flush counts it as done. Its progress must
        # not follow either (a broker that shows aborted records, Tansu, showed the
        # progress of such a transaction once it was aborted, and the restore skipped its
        # outputs, which never reached the broker: lost)
        if self.failed:
            raise Undelivered(f"{self.failed} outputs failed delivery: {self.first_failure}")
        started = self.clock()
        for p in epoch.owned:
            self.producer.send(self.topics.checkpoints, epoch.progress(p, out_floor).encode(),
                               PROGRESS, p)
        committed = epoch.committed_offsets()
        # the group offsets when they moved, or when the transaction holds outputs (a
        # batch of market records only moves no group offset): the offsets carry the
        # group's generation, so a broker that implements KIP-447 refuses a zombie's
        # outputs (Tansu does not check it: docs/streaming.md). An idle checkpoint
        # (snapshot + progress) leaves them as the last transaction committed them, and
        # does not wait on the group coordinator (whose lookup can hang past its timeout
        # after an outage, librdkafka #5456)
        if committed != self.sent_offsets or self.emitted:
            self.producer.send_offsets(committed)
        self.producer.commit()
        self.sent_offsets = committed
        self.commit_s = self.clock() - started

    def _write_snapshots(self, epoch: Epoch) -> None:
        """Each owned partition's snapshot, as one record or as consecutive chunks
        (checkpoints.snapshot_records); its first record's offset names it."""
        offsets: dict[int, int] = {}
        records: dict[int, int] = {}  # partition -> records written
        delivered_n: dict[int, int] = {}

        def delivered(err: Any, msg: Any) -> None:
            if err is None:
                p, offset = msg.partition(), msg.offset()
                offsets[p] = min(offsets.get(p, offset), offset)
                delivered_n[p] = delivered_n.get(p, 0) + 1

        chunk = self.settings.checkpoint_chunk_bytes
        for p, snap in epoch.snapshots().items():
            parts = snapshot_records(snap.encode(), chunk)
            records[p] = len(parts)
            for key, value, headers in parts:
                self.producer.send(self.topics.checkpoints, value, key, p, delivered, headers)
        self.producer.flush(DELIVERY_DEADLINE_S)
        missing = [p for p in epoch.owned if delivered_n.get(p, 0) < records.get(p, 1)]
        if missing:
            raise Undelivered(f"checkpoint not delivered for partitions {sorted(missing)}")
        epoch.snapshots_written(offsets)
        log.info("checkpoint", extra={"event": "checkpoint", "position": epoch.pos,
                                      "partitions": epoch.owned})

    # ------------------------------------------------------------------ failing

    def discard(self) -> None:
        """The transaction is over (committed, aborted, or fenced with its producer)."""
        self.open = False
        self.emitted = []
        self.failed, self.first_failure = 0, None
        self.events = 0

    def abort(self, force: bool = False) -> None:
        """Abort the open transaction (``force``: whatever the producer holds), and drop
        what it held. An abort that fails is raised, what it held dropped all the same;
        it is resumed before the next transaction begins (:meth:`begin`; the processor
        resumes it sooner, before its next restore), unless the producer is replaced
        first (:meth:`producer_replaced`)."""
        try:
            if self.open or self.unfinished or force:
                self.producer.abort()
            self.unfinished = False
        except BaseException:
            self.unfinished = True
            raise
        finally:
            self.discard()

    def producer_replaced(self) -> None:
        """A new producer fenced the old one's transaction: nothing is left to end."""
        self.unfinished = False
        self.discard()

    def restarted(self) -> None:
        """A new epoch, restored from the checkpoints: nothing applied since its
        checkpoint, and the group's offsets as it found them unknown."""
        self.sent_offsets = []
        self.last_checkpoint = self.clock()
        self.since_checkpoint = 0


__all__ = ["DELIVERY_DEADLINE_S", "CommitFailed", "ProducerWedged", "Transaction",
           "TxnProducer", "Undelivered"]
