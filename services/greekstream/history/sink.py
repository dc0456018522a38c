"""The Kafka → ClickHouse sink: every input and output topic into history.

The loop (faust-style: read a batch, write it, commit) is the only Kafka-facing
part; rows go through :class:`HistoryWriter`. Commit order: rows stored first,
offsets committed after, so a crash redelivers and never loses. Redelivered rows
collapse in the Replacing tables (and an identical retried batch is dropped by
its insert deduplication token). While ClickHouse is down the sink pauses its
partitions, retries with capped exponential backoff, reports unhealthy, and
resumes from the same batch when ClickHouse is back. An output record that cannot
become its rows (malformed, or refused by ClickHouse for its data) is quarantined by the
writer (``output_quarantine``, docs/history.md#quarantine), and so is an input record
whose row ClickHouse refuses for its data (``input_quarantine``): counted, logged,
committed past; neither crashes or stalls the sink.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from greekstream.errors import HistoryError, KafkaError
from greekstream.history.client import History, connect
from greekstream.history.migrate import migrate
from greekstream.history.rows import Quarantined
from greekstream.history.writer import HistoryWriter
from greekstream.kafka.backoff import Backoff
from greekstream.kafka.topics import BOOK_SUFFIXES, MARKET_SUFFIXES, OUTPUT_SUFFIXES
from greekstream.settings import SinkSettings

log = logging.getLogger("greekstream.sink")

INPUT_SUFFIXES: tuple[str, ...] = (*MARKET_SUFFIXES, *BOOK_SUFFIXES)


def topic_names(prefix: str) -> tuple[list[str], list[str]]:
    """(input topics, output topics) for a topic prefix such as "greekstream"."""
    return ([f"{prefix}.{s}" for s in INPUT_SUFFIXES], [f"{prefix}.{s}" for s in OUTPUT_SUFFIXES])


@dataclass
class Health:
    healthy: bool = True
    reason: str = ""
    rows_stored: int = 0
    batches: int = 0
    retries: int = 0
    skipped_outputs: int = 0  # outputs of a type history does not store (also quarantined)
    quarantined_outputs: int = 0  # output records stored in output_quarantine, not as rows
    quarantined_inputs: int = 0  # input records stored in input_quarantine, not raw_events
    last_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"status": "ok" if self.healthy else "unhealthy", **self.__dict__}


class Sink:
    """One sink instance: a consumer group member writing batches to history."""

    def __init__(self, settings: SinkSettings, client_overrides: dict[str, Any] | None = None,
                 backoff: Backoff | None = None) -> None:
        """Built from its settings, as the processor is; ``client_overrides`` are extra
        librdkafka settings (the commands' --connect-timeout, tests' shorter timeouts)."""
        self.dsn = settings.clickhouse_dsn.get_secret_value()
        self.inputs, self.outputs = topic_names(settings.kafka.topic_prefix)
        self.input_set = frozenset(self.inputs)
        self.batch_rows = settings.batch_rows
        self.batch_seconds = settings.batch_seconds
        self.backoff = backoff or Backoff()
        kafka_config = {
            **settings.kafka.client_config(),
            "group.id": settings.group_id,
            "session.timeout.ms": settings.session_timeout_ms,
            **(client_overrides or {}),
        }
        self.health = Health()
        self.running = True
        self.offsets: dict[tuple[str, int], int] = {}  # next offset to commit
        self.starts: dict[tuple[str, int], int] = {}  # first offset of the batch
        # per partition: a digest of the batch's records, in offset order (_batch_token)
        self.digests: dict[tuple[str, int], Any] = {}
        self.history: History | None = None
        self.writer: HistoryWriter | None = None
        self.consumer = Consumer({
            **kafka_config,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        })

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._connect()
        assert self.history is not None
        migrate(self.history)
        self.consumer.subscribe(self.inputs + self.outputs, on_revoke=self._on_revoke)

    def stop(self) -> None:
        self.running = False

    def close(self) -> None:
        if self.writer is not None and self.writer.pending:
            with suppress(HistoryError, KafkaError):
                self._store_and_commit()
        self.consumer.close()
        if self.history is not None:
            self.history.close()

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Consume until stopped (or ``until()`` is true)."""
        self.start()
        try:
            while self.running and not (until and until()):
                self.step()
        finally:
            self.close()

    # ------------------------------------------------------------------ the loop

    def step(self) -> None:
        """Read up to one batch, store it once full or old enough, then commit.

        The writer is looked up again after every ``consume``: a rebalance runs
        :meth:`_on_revoke` inside it, which may drop the batch for a new writer, and the
        records read after that belong in the new one (they went into the dropped one,
        and their offsets were committed with nothing stored). The window starts once the
        store is open (the first batch opens it when :meth:`start` has not run)."""
        self._writer()
        deadline = time.monotonic() + self.batch_seconds
        while (self._writer().pending < self.batch_rows and time.monotonic() < deadline
               and self.running):
            wanted = min(self.batch_rows - self._writer().pending, 10_000)
            for message in self.consumer.consume(wanted, timeout=0.1):
                self._add(message)
        if self._writer().pending:
            self._store_with_retry()

    def _add(self, message: Message) -> None:
        """``message`` into the batch :meth:`_writer` holds now (a revoke inside the
        caller's ``consume`` may have replaced it)."""
        err = message.error()
        if err is not None:  # an event, not a record: only a fatal one stops the sink
            if err.fatal():
                raise KafkaError(f"sink consumer error: {err}")
            if err.code() != RdKafkaError._PARTITION_EOF:  # librdkafka retries the others
                log.warning("sink consumer: %s", err)
            return
        writer = self._writer()
        topic, partition = message.topic() or "", message.partition() or 0
        offset = message.offset() or 0
        value = message.value() or b""
        if topic in self.input_set:
            if not (message.key() == b"gs-mark" and not value):  # gateway marks: not events
                writer.add_record(value, f"{topic}/{partition}/{offset}",
                                  (topic, partition, offset, value))
        else:
            writer.add_output_json(value, offset, topic, partition)
        self.starts.setdefault((topic, partition), offset)
        self.offsets[(topic, partition)] = offset + 1
        digest = self.digests.get((topic, partition))
        if digest is None:
            digest = self.digests[(topic, partition)] = hashlib.blake2b(digest_size=8)
        digest.update(len(value).to_bytes(8, "little"))
        digest.update(value)

    def _store_with_retry(self) -> None:
        paused = False
        while True:
            try:
                self._store_and_commit()
            except KafkaError as exc:  # the rows are stored: only the commit failed
                self._uncommitted(exc)
            except HistoryError as exc:
                if not paused:
                    self.consumer.pause(self.consumer.assignment())
                    paused = True
                self._unhealthy(exc)
                time.sleep(self.backoff.next())
                # keeps the group membership alive; a rebalance inside it assigns partitions
                # unpaused, so a record may come back: it joins the batch (dropping it
                # would commit past it), and the new assignment is paused again
                for message in self.consumer.consume(1, timeout=0):
                    self._add(message)
                self.consumer.pause(self.consumer.assignment())
                if not self.running:
                    return
                self._reconnect()
                continue
            if paused:
                self.consumer.resume(self.consumer.assignment())
            self.backoff.reset()
            if not self.health.healthy:
                log.info("ClickHouse is back; sink healthy again")
            self.health.healthy, self.health.reason = True, ""
            return

    def _store_and_commit(self) -> None:
        writer = self._writer()
        token = _batch_token(self.starts, self.offsets, self.digests)
        written = writer.flush(token)
        self.health.rows_stored += written
        self.health.batches += 1
        self._report(writer.take_quarantined())
        self._commit()

    def _report(self, quarantined: list[Quarantined]) -> None:
        """Count and log the records just stored in a quarantine table."""
        for q in quarantined:
            what = "input" if q.topic in self.input_set else "output"
            if what == "input":
                self.health.quarantined_inputs += 1
            else:
                self.health.quarantined_outputs += 1
            if q.reason == "unknown_type":
                self.health.skipped_outputs += 1
            log.warning(
                "quarantined the %s at %s/%d/%d (%s): %s", what, q.topic, q.partition,
                q.offset, q.reason, q.message,
                extra={"event": f"{what}_quarantined", "topic": q.topic,
                       "partition": q.partition, "offset": q.offset, "reason": q.reason,
                       "detail": q.message, "event_id": q.event_id, "type": q.type})

    def _uncommitted(self, exc: KafkaError) -> None:
        """A commit refused after its batch was stored (the group rebalancing, a session
        that timed out, the coordinator moving): the offsets are kept and go with the
        next commit; if the partitions went to another member meanwhile, it reads the
        batch again and its rows collapse (docs/history.md, *Duplicates*). It used to
        leave the loop, and `greekstream sink` exited at a routine rebalance. A fatal
        error still stops the sink."""
        cause = exc.__cause__
        error = cause.args[0] if isinstance(cause, KafkaException) and cause.args else None
        if not isinstance(error, RdKafkaError) or error.fatal():
            raise exc
        log.warning("%s; the offsets go with the next commit (the rows are stored)", exc)

    def _commit(self) -> None:
        if not self.offsets:
            return
        positions = [TopicPartition(t, p, o) for (t, p), o in sorted(self.offsets.items())]
        try:
            self.consumer.commit(offsets=positions, asynchronous=False)
        except KafkaException as exc:
            raise KafkaError(f"sink offset commit failed: {exc}") from exc
        self.offsets.clear()
        self.starts.clear()
        self.digests.clear()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Store what we hold before losing the partitions; if we cannot, drop it:
        nothing was committed, so the next owner re-reads it. The arrival clocks of the
        partitions lost are read from the store again if they come back (another sink
        may store their records meanwhile: HistoryWriter.forget)."""
        if self.writer is None:
            return
        if self.writer.pending:
            try:
                self._store_and_commit()
            except (HistoryError, KafkaError) as exc:
                what = ("stored, its offsets not committed" if isinstance(exc, KafkaError)
                        else "not stored, or only in part")
                log.warning("dropping the batch at rebalance (%s; it will be re-read): %s",
                            what, exc)
                self.writer = HistoryWriter(self.writer.history, resume_streams=True)
                self.offsets.clear()
                self.starts.clear()
                self.digests.clear()
                return
        self.writer.forget([(tp.topic, tp.partition) for tp in partitions])

    # ------------------------------------------------------------------ ClickHouse

    def _writer(self) -> HistoryWriter:
        if self.writer is None:
            self._connect()
        assert self.writer is not None
        return self.writer

    def _connect(self) -> None:
        self.history = connect(self.dsn, create=True)
        if self.writer is None:
            # each partition's arrival clock continues the stored one (HistoryWriter._resume)
            self.writer = HistoryWriter(self.history, resume_streams=True)
        else:
            self.writer.history = self.history

    def _reconnect(self) -> None:
        history = self.history
        if (history is not None and not history.closed and history.target.embedded
                and history.target.dsn == self.dsn):
            # chDB runs in this process: there is no connection to re-establish, and each
            # new session leaves ClickHouse's threads behind (5 threads, ~12 descriptors,
            # never freed): a sink retrying a full disk at its backoff would run out of them.
            return
        if self.history is not None:
            self.history.close()
        try:
            self._connect()
        except HistoryError as exc:
            self._unhealthy(exc)

    def _unhealthy(self, exc: Exception) -> None:
        if self.health.healthy:
            log.error("ClickHouse unavailable, holding offsets and retrying: %s", exc)
        self.health.healthy = False
        self.health.reason = "ClickHouse unavailable"
        self.health.last_error = str(exc).splitlines()[0]
        self.health.retries += 1


def _batch_token(starts: dict[tuple[str, int], int], ends: dict[tuple[str, int], int],
                 digests: dict[tuple[str, int], Any]) -> str:
    """The exact offset ranges of a batch and a digest of each range's records: a retried
    insert of it is dropped as a duplicate. The offsets alone did not name the records:
    they start at 0 again when a topic is made again, the sink is pointed at another
    cluster or a broker with memory storage restarts, and ClickHouse dropped the new
    records as a retry of the old ones it had stored at those offsets."""
    return ",".join(f"{t}/{p}/{starts[(t, p)]}-{o}/{digests[(t, p)].hexdigest()}"
                    for (t, p), o in sorted(ends.items()))
