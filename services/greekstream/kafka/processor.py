"""The exactly-once processor: consume -> engine -> produce, one Kafka transaction per batch.

    loop:  poll book partitions (group) and every market-data partition (broadcast)
           -> release records in gs-seq order -> engine.handle -> produce outputs
           -> progress (+ snapshot every interval) -> group offsets -> commit

Outputs, the progress record of each owned partition and the group offsets of the
book-keyed topics commit atomically; consumers of the outputs read ``read_committed``.
The commit order is the transaction: nothing is visible until all of it is. What is in
flight and the order it commits in: transaction.py; the state between two rebalances:
epoch.py; /healthz and the lag metrics: health.py; Kafka is reached through the clients
:class:`KafkaClients` builds (:class:`KafkaTxnProducer` and the two consumers).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka.admin import AdminClient

from greekstream.errors import KafkaError
from greekstream.kafka.backoff import Backoff
from greekstream.kafka.checkpoints import (
    CheckpointReader,
    await_settled,
    log_end,
    open_transaction_limit_s,
    scan_starts,
)
from greekstream.kafka.epoch import Emitted, Epoch
from greekstream.kafka.gateway import COPY_HEADER, SEQ_HEADER, is_mark
from greekstream.kafka.health import Lag, Liveness
from greekstream.kafka.merge import Position, Record
from greekstream.kafka.ops import Metrics
from greekstream.kafka.reach import unreachable
from greekstream.kafka.topics import OUTPUT_ROUTES, Topics, partition_counts
from greekstream.kafka.transaction import CommitFailed, Offsets, ProducerWedged, Transaction
from greekstream.runtime.scenario_files import engine_config
from greekstream.settings import ProcessorSettings

log = logging.getLogger("greekstream.process")
SEND_OFFSETS_DEADLINE_S = 45.0  # the call's own timeout is 30 s
COMMIT_TIMEOUT_S = 30.0  # one commit_transaction call
ABORT_TIMEOUT_S = 30.0  # one abort_transaction call
INIT_TIMEOUT_S = 60.0  # one init_transactions call

# Liveness.waiting: a context in which the loop is blocked for at most that many seconds
Waiting = Callable[[float], contextlib.AbstractContextManager[None]]
# the shortest call once stopping: a resumed commit whose first phase times out sooner
# could take a late answer for its next phase's (librdkafka's current-call bookkeeping)
COMMIT_FLOOR_S = 1.0
# after a stop request, how long a commit that keeps failing (retriably) is still resumed
# before the processor stops with it unfinished (KafkaTxnProducer.commit). The final
# commit's delivery and send_offsets keep their own bounds, so a stop against a slow broker
# can outlast the chart's 60 s grace; its SIGKILL is then safe (docs/streaming.md, SIGTERM)
STOP_COMMIT_DEADLINE_S = 20.0
# records applied between two looks at the clock while a batch is released (batch_max_ms):
# at ~100 µs a record, ~6 ms apart, and a clock read is 1/1000 of the records' time
CLOCK_EVERY = 64


_SEQ = SEQ_HEADER


@contextlib.contextmanager
def _client_call(name: str) -> Iterator[None]:
    """A SystemError out of confluent-kafka's C layer (an exception state it could not
    restore: seen from ``flush`` after a wedged producer was replaced under load) is a
    producer that can no longer be trusted: :class:`ProducerWedged`, which replaces it,
    rather than an exception that ends the process."""
    try:
        yield
    except SystemError as exc:
        raise _wedged(name, exc) from exc


def _wedged(name: str, exc: SystemError) -> ProducerWedged:
    return ProducerWedged(f"{name} failed inside confluent-kafka: {exc!r}")


class KafkaTxnProducer:
    """The :class:`~greekstream.kafka.transaction.TxnProducer` seam over confluent-kafka's
    transactional ``Producer``, with the retries and deadlines the broker needs."""

    def __init__(self, conf: dict[str, Any], group_metadata: Callable[[], Any],
                 backoff: Callable[[float], Backoff], trouble: Callable[[str], None],
                 stopping: Callable[[], bool] = lambda: False,
                 waiting: Waiting = lambda _s: contextlib.nullcontext()) -> None:
        self.conf = conf
        self.group_metadata = group_metadata  # the group consumer's, for send_offsets
        self.backoff = backoff
        self.trouble = trouble
        self.stopping = stopping  # a stop request ends the commit's retries (commit)
        # each blocking call is declared with its bound (Liveness.waiting: /healthz stays
        # alive through it, and turns unhealthy if the call overruns its bound)
        self.waiting = waiting
        self.producer = Producer(conf)

    def init(self) -> None:
        with self.waiting(INIT_TIMEOUT_S):
            self.producer.init_transactions(INIT_TIMEOUT_S)

    def begin(self) -> None:
        with _client_call("begin_transaction"):
            self.producer.begin_transaction()

    def send(self, topic: str, value: bytes, key: bytes | None, partition: int = -1,
             on_delivery: Any = None, headers: list[tuple[str, bytes]] | None = None) -> None:
        # hot (every output): _client_call's rule inline, as a try (free unless it raises)
        # rather than a generator context manager (~1.5 µs per output)
        try:
            while True:
                try:
                    # the stubs ask headers as an invariant list[tuple[str, str | bytes |
                    # None]] (arg-type): a list[tuple[str, bytes]] is one
                    self.producer.produce(topic, value, key, partition=partition,
                                          on_delivery=on_delivery,
                                          headers=headers)  # type: ignore[arg-type]
                    return
                except BufferError:
                    self.producer.poll(0.01)
        except SystemError as exc:
            raise _wedged("produce", exc) from exc

    def flush(self, timeout_s: float) -> int:
        with _client_call("flush"), self.waiting(timeout_s):
            return self.producer.flush(timeout_s)

    def send_offsets(self, offsets: Offsets) -> None:
        """send_offsets_to_transaction, abandoned after SEND_OFFSETS_DEADLINE_S: after a
        broker outage librdkafka can wait for its group coordinator forever, past the
        call's own timeout (librdkafka #5456, #5511; seen against Tansu behind a proxy)."""
        partitions = [TopicPartition(t, p, o) for t, p, o in offsets]
        done, failure = threading.Event(), []
        metadata = self.group_metadata()

        def call() -> None:
            try:
                self.producer.send_offsets_to_transaction(partitions, metadata, 30)
            except BaseException as exc:  # handed to the loop's thread below
                failure.append(exc)
            finally:
                done.set()

        with self.waiting(SEND_OFFSETS_DEADLINE_S):
            threading.Thread(target=call, name="send-offsets", daemon=True).start()
            returned = done.wait(SEND_OFFSETS_DEADLINE_S)
        if not returned:
            raise ProducerWedged(f"send_offsets_to_transaction did not return within "
                                 f"{SEND_OFFSETS_DEADLINE_S:g} s")
        if failure:
            with _client_call("send_offsets_to_transaction"):
                raise failure[0]

    def commit(self) -> None:
        """commit_transaction, resumed with backoff while its error is retriable (a broker
        that answers slowly; librdkafka then allows no other call: not even an abort).
        From the first look that finds the processor stopping (SIGTERM), the calls get
        what is left of STOP_COMMIT_DEADLINE_S (at least COMMIT_FLOOR_S: a negative
        timeout would wait forever), and no backoff sleeps past it; then
        :class:`ProducerWedged` is raised: the processor stops with the transaction
        unfinished (Processor._commit), as if killed."""
        deadline: list[float] = []  # set at the first look that finds us stopping

        def stop_deadline() -> float | None:
            if not deadline and self.stopping():
                deadline.append(time.monotonic() + STOP_COMMIT_DEADLINE_S)
            return deadline[0] if deadline else None

        def call() -> None:
            end = stop_deadline()
            left = COMMIT_TIMEOUT_S if end is None else end - time.monotonic()
            timeout = max(COMMIT_FLOOR_S, min(left, COMMIT_TIMEOUT_S))
            with _client_call("commit_transaction"), self.waiting(timeout):
                self.producer.commit_transaction(timeout)

        def retriable(exc: Exception, delay: float) -> None:
            err = exc.args[0]
            if not err.retriable():
                raise exc
            end = stop_deadline()
            if end is not None and time.monotonic() + delay >= end:
                raise ProducerWedged(
                    f"commit_transaction still failing {STOP_COMMIT_DEADLINE_S:g} s after "
                    f"the stop request: {err}") from exc
            self.trouble(f"commit: {err}")

        self.backoff(0.05).retry(call, (KafkaException,), retriable)

    def abort(self) -> None:
        with _client_call("abort_transaction"), self.waiting(ABORT_TIMEOUT_S):
            self.producer.abort_transaction(ABORT_TIMEOUT_S)

    def replace(self) -> None:
        """A new producer with the same transactional.id: it fences the wedged one (whose
        open transaction the coordinator aborts). What the old one still queues is purged
        first: its records must not reach the broker after the restore looked for them."""
        with contextlib.suppress(KafkaException, SystemError):  # nothing more to lose
            self.producer.purge(in_queue=True, in_flight=True, blocking=False)
        self.producer = Producer(self.conf)

        def unready(exc: Exception, delay: float) -> None:
            if exc.args[0].fatal():
                raise KafkaError(f"transactional producer failed: {exc}") from exc
            self.trouble(f"init_transactions: {exc}; retrying in {delay:.1f} s")

        # the broker may still be out of reach
        self.backoff(0.1).retry(self.init, (KafkaException,), unready, stop=self.stopping)


class KafkaClients:
    """How a :class:`Processor` reaches Kafka: the one place its clients are built (the
    topic layout's metadata, the two consumers, the transactional producer, the checkpoint
    reader and the admin client). Unit tests hand the processor a fake of it
    (tests/unit/kafka/test_processor.py) to drive its rebalance paths without a broker."""

    def partition_counts(self, conf: dict[str, Any], names: list[str]) -> dict[str, int]:
        return partition_counts(conf, names)

    def consumer(self, conf: dict[str, Any]) -> Consumer:
        return Consumer(conf)

    def producer(self, conf: dict[str, Any], group_metadata: Callable[[], Any],
                 backoff: Callable[[float], Backoff], trouble: Callable[[str], None],
                 stopping: Callable[[], bool], waiting: Waiting) -> KafkaTxnProducer:
        return KafkaTxnProducer(conf, group_metadata, backoff, trouble, stopping, waiting)

    def reader(self, conf: dict[str, Any], topic: str) -> CheckpointReader:
        return CheckpointReader(conf, topic)

    def admin(self, conf: dict[str, Any]) -> AdminClient:
        return AdminClient(conf)


def _stamp(value: bytes | str | None) -> int | None:
    """A ``gs-seq`` header's value as the gateway writes it (decimal digits of a
    non-negative int64), else None: a record from another producer with a malformed stamp
    is ordered by its time, as one without (a ValueError here stopped the processor, and
    again at the same record on every restart; a seq past int64 would fail later, in the
    position header of its outputs)."""
    if value is None:
        return None
    try:
        seq = int(value)
    except ValueError:
        return None
    return seq if 0 <= seq < 1 << 63 else None


class Processor:
    def __init__(self, settings: ProcessorSettings, client_overrides: dict[str, Any] | None = None,
                 connect_timeout_s: float | None = None,
                 clients: KafkaClients | None = None) -> None:
        self.settings = s = settings
        self.clients = clients = clients or KafkaClients()
        self.connect_timeout_s = connect_timeout_s  # None: wait for the broker forever
        self.engine_config = engine_config(s.engine)  # a bad scenario file fails first
        self.topics = Topics(s.kafka.topic_prefix)
        self.instance = s.instance_id or socket.gethostname()
        self.liveness = Liveness(self.instance)  # /healthz
        conf = {**s.kafka.client_config(), **(client_overrides or {})}
        self.book_topics = self.topics.book_topics
        self.book_set = frozenset(self.book_topics)
        self.n_book, self.market_sources = self._layout(conf)
        ranks = [*self.topics.market_topics, *self.book_topics]
        self.rank = {t: i for i, t in enumerate(ranks)}
        common = {**conf, "enable.auto.commit": False, "enable.partition.eof": False,
                  "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                  "session.timeout.ms": s.session_timeout_ms}
        static = {"group.instance.id": self.instance} if s.static_membership else {}
        self.books = clients.consumer({**common, "group.id": s.group_id, **static,
                                       "partition.assignment.strategy": "range"})
        self.market = clients.consumer({**common,
                                        "group.id": f"{s.group_id}.market.{self.instance}"})
        producer_conf = {
            **conf, "transactional.id": f"{s.group_id}.{self.instance}", "linger.ms": 2,
            "transaction.timeout.ms": s.transaction_timeout_ms,
            "queue.buffering.max.messages": 1_000_000,
        }
        self.producer = clients.producer(producer_conf, self.books.consumer_group_metadata,
                                         self._backoff, self._broker_trouble,
                                         lambda: self.stopping, self.liveness.waiting)
        self.reader = clients.reader(conf, self.topics.checkpoints)
        # the output floor's watermarks in one ListOffsets request of an idle client: asked
        # through the group consumer, each waited behind its fetch long-poll (~0.3 s each
        # on Tansu; 48 output partitions made every checkpoint cost ~14 s)
        self.admin = clients.admin(conf)
        self.metrics = Metrics()
        self.lag = Lag(self.metrics)
        self.epoch: Epoch | None = None
        self.out_floor: dict[str, int] = {}  # output partition -> offset (checkpoints.py)
        # while outputs a killed transaction left visible lie past the committed progress
        # (Tansu shows aborted records), the floor stays where recovery found them, up to
        # the last of their positions: a floor past them would hide them from the next
        # recovery, which would produce them again
        self.floor_hold: dict[str, int] = {}
        self.hold_until: Position | None = None
        self.txn = Transaction(self.producer, self.topics, s)  # the batch in flight
        self.stopping = False
        self.failed_in_a_row = 0  # transactions that failed since a commit passed them
        self.failed_at: Position | None = None  # the farthest position they had reached
        self.failure_pause = self._backoff()  # the pause before retrying after the first

    def _layout(self, conf: dict[str, Any]) -> tuple[int, list[tuple[str, int]]]:
        outputs = sorted({self.topics.for_output(t) for t in OUTPUT_ROUTES})
        names = [*self.book_topics, *self.topics.market_topics, self.topics.checkpoints,
                 *outputs]
        started = time.monotonic()

        def waiting(exc: Exception, delay: float) -> None:
            limit = self.connect_timeout_s
            if limit is not None and time.monotonic() - started + delay > limit:
                raise unreachable(conf, limit, exc) from exc
            log.warning("kafka unreachable at %s (%s); retrying in %.1f s: check "
                        "GREEKSTREAM_KAFKA__BOOTSTRAP_SERVERS / --bootstrap",
                        conf.get("bootstrap.servers"), exc, delay,
                        extra={"event": "broker_trouble"})

        # a broker that is not up yet is waited for, with backoff
        counts = self._backoff().retry(lambda: self.clients.partition_counts(conf, names),
                                       (KafkaException,), waiting)
        assert counts is not None  # no stop(): only a return or a raise ends the retries
        missing = [n for n, c in counts.items() if not c]
        if missing:
            raise KafkaError(f"topics missing: {', '.join(missing)}",
                             hint="greekstream topics create --bootstrap HOST:PORT")
        book_counts = {counts[t] for t in [*self.book_topics, self.topics.checkpoints]}
        if len(book_counts) != 1:
            raise KafkaError(
                f"book-keyed topics and {self.topics.checkpoints} must have one partition count "
                f"(co-partitioned); found {sorted(book_counts)}")
        market = [(t, m) for t in self.topics.market_topics for m in range(counts[t])]
        self.output_sources = [(t, m) for t in outputs for m in range(counts[t])]
        return book_counts.pop(), market

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Finish and commit the batch in flight, then leave the group (SIGTERM)."""
        self.stopping = True

    def start(self) -> None:
        """Take the transactional id (fencing a previous incarnation) and join the group."""
        self.producer.init()
        self.books.subscribe(self.book_topics, on_assign=self._on_assign,
                             on_revoke=self._on_revoke, on_lost=self._on_lost)

    def run(self, until: Callable[[Processor], bool] | None = None) -> None:
        """Process until SIGTERM (:meth:`stop`) or ``until(self)`` (benches, tests)."""
        self.start()
        try:
            while not self.stopping and not (until and until(self)):
                self.step()
            try:
                self._commit(checkpoint=True)  # the batch in flight, and a fresh checkpoint
            except KafkaError as exc:
                if not self.stopping:
                    raise
                self._left_open(str(exc))  # fenced, or the broker gone for the replacement
            epoch = self.epoch
            log.info("stopped", extra={"event": "stopped", "position": epoch and epoch.pos,
                                       "partitions": epoch.owned if epoch else []})
        finally:
            self.close()

    def close(self) -> None:
        self.books.close()  # leaves the group: the revoke callback commits nothing new
        self.market.close()
        self.reader.close()
        # a producer wedged inside confluent-kafka (its transaction left open) has nothing
        # more to deliver: its error ended a stop with exit 1, or hid the one ending run()
        with contextlib.suppress(ProducerWedged):
            self.producer.flush(10)

    def step(self) -> None:
        now = self.liveness.beat()
        txn = self.txn
        idle = self.epoch is None or (self.epoch.buffered == 0 and not txn.events)
        got = self._poll(0.05 if idle else 0.0)
        if self.epoch is not None:
            self._release()
        if txn.events and txn.batch_due(got):
            self._commit(checkpoint=txn.checkpoint_due())
        elif not txn.events and txn.since_checkpoint and txn.checkpoint_due():
            self._commit(checkpoint=True)  # idle: checkpoint what the last batches applied
        if self.lag.due(now):
            self.lag.update(self.epoch, self._consumer_of, self.txn.last_checkpoint)

    # ------------------------------------------------------------------ consuming

    def _poll(self, timeout: float) -> int:
        n = 0
        for consumer, t in ((self.market, 0.0), (self.books, timeout)):
            try:
                msgs = consumer.consume(self.settings.batch_max_events, t)
            except KafkaException as exc:
                self._broker_trouble(str(exc))
                continue
            n += self._ingest(msgs)
        return n

    def _ingest(self, msgs: list[Message]) -> int:
        epoch = self.epoch
        if epoch is None:
            return 0
        n = 0
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() != RdKafkaError._PARTITION_EOF:
                    self._broker_trouble(str(err))
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            # a record (not an error) has all three
            assert topic is not None and partition is not None and offset is not None
            if not epoch.reads((topic, partition)):
                continue
            epoch.push(self._record(msg, topic, partition, offset))
            n += 1
        return n

    def _record(self, msg: Message, topic: str, partition: int, offset: int) -> Record:
        seq, copy = None, False
        headers = msg.headers()  # a consumed record's: a list of (key, value) pairs, or None
        for k, v in headers if isinstance(headers, list) else ():
            if k == _SEQ:  # a null, non-integer or out-of-range value is no stamp
                seq = _stamp(v)
            elif k == COPY_HEADER:
                copy = True
        ts = msg.timestamp()[1]
        # a null value (a tombstone) is an empty record: the engine rejects it (invalid_json)
        key, value = msg.key(), msg.value() or b""
        # no gateway stamp: the merge places it after its partition's records so far
        return Record((-1 if seq is None else seq, self.rank[topic], partition, offset),
                      value, key, topic, partition, offset, ts, is_mark(key, value),
                      sequenced=seq is not None, copy=copy and seq is not None)

    def _broker_trouble(self, text: str) -> None:
        """A broker problem being waited out (with backoff, a deadline): the process is
        alive, not stuck, and /healthz says so while it waits."""
        self.liveness.beat()
        self.liveness.trouble(text)

    # ------------------------------------------------------------------ applying

    def _release(self) -> None:
        epoch = self.epoch
        assert epoch is not None
        txn = self.txn
        limit = self.settings.batch_max_events - txn.events
        pop, apply, book_set = epoch.next_record, epoch.apply, self.book_set
        n = 0
        while n < limit:
            rec = pop()
            if rec is None:
                break
            if rec.is_mark:
                epoch.passed(rec)
                continue
            if not n:
                txn.starting()
            try:
                emitted = apply(rec, book_set)
            except Exception as exc:  # the engine never raises; this is the runtime's
                log.exception("record failed: %s/%s/%s", rec.topic, rec.partition, rec.offset)
                emitted = epoch.poison(rec, exc)
            n += 1
            if emitted:
                try:
                    txn.produce(epoch, emitted)
                except (KafkaException, ProducerWedged) as exc:
                    # the transaction cannot take them (a delivery failed in it, the
                    # producer broken): it is aborted and the epoch restored, as after a
                    # failed commit; what this loop applied is replayed by the new epoch
                    self._producer_failed(exc, restart=True)
                    return
            if not n % CLOCK_EVERY and txn.batch_timed_out():
                break  # batch_max_ms: commit what the batch holds (its outputs' latency)
        if epoch.newly_caught_up():
            log.info("caught up", extra={"event": "caught_up", "position": epoch.pos,
                                         "partitions": epoch.owned})
        txn.applied(n)
        if n:
            self.metrics.events_in.inc(n)

    # ------------------------------------------------------------------ committing

    def _commit(self, checkpoint: bool, restart: bool = True) -> None:
        """Commit the batch in flight (transaction.py: what, and in which order), and with
        ``checkpoint`` a snapshot of every owned partition; on a failure, abort (or
        replace a wedged producer) and, with ``restart``, restore from the checkpoints."""
        epoch, txn = self.epoch, self.txn
        if epoch is None or not txn.pending(checkpoint):
            return
        try:
            done = txn.commit(epoch, checkpoint, self.out_floor)
        except CommitFailed as failed:
            self._producer_failed(failed.cause, restart)
            return
        self._committed(done, epoch.pos)
        if self.hold_until is not None and epoch.pos is not None and epoch.pos >= self.hold_until:
            self.floor_hold, self.hold_until = {}, None  # committed past them: not needed
        if checkpoint:
            self._refresh_floor()

    def _refresh_floor(self) -> None:
        """The end of every output partition, read after a commit: no output of a later
        transaction of ours can be below it (where recovery starts looking, checkpoints.py)."""
        if not self.output_sources:
            return
        request = {TopicPartition(t, p): log_end() for t, p in self.output_sources}
        try:
            answers = self.admin.list_offsets(request, request_timeout=5)
            floor = {f"{tp.topic}/{tp.partition}": answer.result().offset
                     for tp, answer in answers.items()}
        except KafkaException as exc:
            self._broker_trouble(f"output watermarks: {exc}")
            return  # keep the previous floor: lower, so still a floor
        hold = self.floor_hold
        self.out_floor = {k: min(v, hold[k]) if k in hold else v for k, v in floor.items()}

    def _replace_producer(self, why: str, restart: bool) -> None:
        """A wedged transactional producer is left behind: a new one with the same
        transactional.id fences it (its open transaction is aborted by the coordinator),
        and the epoch restarts from the committed checkpoints, as after an abort."""
        log.warning("transactional producer wedged (%s): replacing it and restoring from "
                    "checkpoints", why, extra={"event": "producer_replaced"})
        self.metrics.transactions.labels("aborted").inc()
        self.producer.replace()
        self.txn.producer_replaced()
        self._abandon(restart)

    def _left_open(self, why: str) -> None:
        """Stopping, with a transaction that could be neither committed nor aborted (a
        commit or send_offsets librdkafka still holds refuses an abort): the process ends
        with it unfinished, as a SIGKILL leaves one. The broker commits it if the commit
        reached it; otherwise the next producer with this transactional.id (this instance
        restarted) aborts it. The partitions' next owner restores from their
        checkpoints (docs/streaming.md, the SIGTERM and SIGKILL rows of its operations table)."""
        log.warning("stopping with the transaction unfinished (%s): the broker commits it "
                    "(if the commit reached it) or the next start of this instance aborts "
                    "it; its partitions restore from their checkpoints",
                    why, extra={"event": "transaction_left_open"})
        self.metrics.transactions.labels("left_open").inc()
        self.txn.discard()
        self.epoch = None

    def _backoff(self, initial_s: float = 0.1) -> Backoff:
        return Backoff(initial_s, self.settings.backoff_max_s)

    def _committed(self, done: list[Emitted], pos: Position | None) -> None:
        """A commit up to ``pos``. It ends a run of failed transactions only once it
        reaches where they failed: what came before a record that fails every time (an
        output the broker refuses) is applied again and committed first after each
        restore, and reset the run each time (the record retried at once, for ever)."""
        if self.failed_at is None or (pos is not None and pos >= self.failed_at):
            self.failed_in_a_row, self.failed_at = 0, None
            self.failure_pause.reset()
        now = time.time()
        m = self.metrics
        m.transactions.labels("committed").inc()
        kinds: Counter[str] = Counter()  # a labelled counter's lookup is per label, not output
        reasons: Counter[str] = Counter()
        for e in done:
            out = e.output
            kinds[out.type] += 1
            if out.type == "rejected":
                reasons[out.reason] += 1
            elif e.quote_ts_ms is not None and out.type == "exposure":
                m.latency.observe(max(0.0, now - e.quote_ts_ms / 1000))
        for kind, n in kinds.items():
            m.events_out.labels(kind).inc(n)
        for reason, n in reasons.items():
            m.rejections.labels(reason).inc(n)
        m.checkpoint_age.set(time.monotonic() - self.txn.last_checkpoint)

    def _producer_failed(self, cause: Exception, restart: bool) -> None:
        """The transaction in flight failed (``cause``: a KafkaException, Undelivered or
        ProducerWedged, transaction.py): abort it, or replace a producer that cannot be
        trusted with an abort, and with ``restart`` restore from the checkpoints. Stopping,
        a transaction that cannot end here is left open (:meth:`_left_open`). Only a
        fatal error (this instance's transactional.id taken by a newer one) ends the
        process: another instance owns its work now."""
        self.failed_in_a_row += 1
        pos = self.epoch.pos if self.epoch is not None else None
        if pos is not None and (self.failed_at is None or pos > self.failed_at):
            self.failed_at = pos
        if self.stopping and not isinstance(cause, KafkaException):
            # a wedged call or undelivered records: an abort would wait on the same broker
            self._left_open(str(cause))
        elif isinstance(cause, ProducerWedged):
            self._replace_producer(str(cause), restart)
        else:
            self._end_if_fatal(cause)
            self._failed(cause, restart)
        if restart and self.failed_in_a_row > 1:
            self._pause_after_failures(cause)

    def _end_if_fatal(self, exc: Exception) -> None:
        """A fatal error (this instance's transactional.id taken by a newer incarnation)
        ends the process, whichever call met it (a commit's step, or the abort after a
        failure that was not fatal itself: outputs the fenced producer could not deliver):
        a replacement producer would take the id back and fence the newer incarnation,
        and both would go on with the same work."""
        if isinstance(exc, KafkaException) and exc.args[0].fatal():
            self.metrics.transactions.labels("aborted").inc()
            raise KafkaError(f"transactional producer failed: {exc.args[0]}") from exc

    def _pause_after_failures(self, cause: Exception) -> None:
        """Transactions failing one after another (the broker still away, or an error
        that repeats: a record the broker refuses) are retried with a growing pause (the
        processor's backoff: 0.1 s doubled up to ``backoff_max_s``), not at once: the
        process neither spins nor exits. A stop ends the pause; a commit that reaches
        where they failed resets it (:meth:`_committed`)."""
        delay = self.failure_pause.next()
        self._broker_trouble(f"{self.failed_in_a_row} transactions failed in a row (last: "
                             f"{cause}); next attempt in {delay:.1f} s")
        end = time.monotonic() + delay
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def _failed(self, exc: Exception, restart: bool) -> None:
        """Abort the transaction (librdkafka purges what is still queued) and restore; an
        abort that fails too (the broker still out of reach, a call librdkafka still holds)
        replaces the producer instead, whose successor fences the transaction, unless its
        error is fatal (:meth:`_end_if_fatal`). During a rebalance (no ``restart``) the
        partitions are going: the abort's failure is only logged, and resumed before this
        instance's next restore (:meth:`_end_unfinished`); their next owner's recovery
        waits for the transaction to end."""
        log.warning("transaction aborted, restoring from checkpoints: %s", exc,
                    extra={"event": "abort"})
        try:
            self.txn.abort(force=True)
        except (KafkaException, ProducerWedged) as abort_exc:
            if restart:
                self._end_if_fatal(abort_exc)
                self._replace_producer(f"cannot abort the transaction: {abort_exc}", restart)
                return
            log.warning("could not abort before the rebalance: %s", abort_exc)
        self.metrics.transactions.labels("aborted").inc()
        self._abandon(restart)

    def _abandon(self, restart: bool) -> None:
        """The transaction in flight is gone (aborted, or fenced with its producer): drop
        what it held and, with ``restart``, restore the owned partitions from their
        checkpoints."""
        self.txn.discard()
        if self.epoch is not None and restart:
            owned = self.epoch.owned
            self.epoch = None
            self._restore(owned, seek=True)

    # ------------------------------------------------------------------ rebalancing

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        owned = sorted({tp.partition for tp in partitions})
        # before the restore, which can wait (checkpoint_wait, output_wait): a stuck
        # instance shows whether it has partitions at all
        log.info("assigned", extra={"event": "assigned", "partitions": owned})
        offsets = self._restore(owned, seek=False)
        if offsets is None:  # stopping before the restore ended: nothing is restored
            return  # (confluent-kafka assigns; with no epoch nothing is applied or committed)
        for tp in partitions:
            tp.offset = offsets[(tp.topic, tp.partition)]
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.epoch is not None:
            try:
                # the next owner restores from here, without replay; a failed commit is
                # aborted (_producer_failed), an abort that fails too is only logged
                self._commit(checkpoint=True, restart=False)
            except KafkaError as exc:  # fatal: fenced by a newer incarnation of this id
                log.warning("could not commit before the rebalance: %s", exc)
                try:
                    self.txn.abort()
                except (KafkaException, ProducerWedged) as abort_exc:
                    log.warning("could not abort before the rebalance: %s", abort_exc)
        self.txn.discard()  # (the batch is dropped either way)
        self.epoch = None
        self.market.unassign()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The assignment is lost (the session timed out in an outage): another instance
        may own the partitions, so nothing in flight may commit. An abort the broker
        cannot take yet is resumed before the next restore (:meth:`_end_unfinished`);
        it used to raise out of the callback, leaving the batch in flight."""
        log.warning("assignment lost: the batch in flight is aborted",
                    extra={"event": "lost", "partitions": self.epoch.owned if self.epoch else []})
        try:
            self.txn.abort()
        except (KafkaException, ProducerWedged) as exc:
            log.warning("could not abort the transaction of a lost assignment (resumed "
                        "before the next restore): %s", exc, extra={"event": "abort"})
        self.epoch = None
        self.market.unassign()

    def _restore(self, owned: list[int], seek: bool) -> dict[tuple[str, int], int] | None:
        """Restore the owned partitions from their checkpoints (:meth:`_start_epoch`),
        retrying with backoff while the broker cannot be read (an outage is ridden out,
        not a crash); a stop request ends the wait with no epoch (nothing to commit)."""
        self._end_unfinished()
        return self._backoff().retry(lambda: self._start_epoch(owned, seek),
                                     (KafkaError, KafkaException), self._restore_trouble,
                                     stop=lambda: self.stopping)

    def _end_unfinished(self) -> None:
        """A transaction whose abort failed (a lost assignment, a revoke, in an outage) is
        ended before a restore looks at the checkpoint and output partitions: the restore
        waits for the transactions open on them to end, this one too, which only this
        producer's abort or its successor ends on a broker that never times one out
        (Tansu). Resumed at the next begin only, after the restore: open on the
        checkpoints, the restore was retried for ever; open on the outputs, it went on
        after its limit without them, produced them again, and the late abort showed the
        first copies (Tansu shows aborted records). An abort that fails again replaces
        the producer, whose successor fences the transaction (unless fatal)."""
        if not self.txn.unfinished:
            return
        try:
            self.txn.abort()
        except (KafkaException, ProducerWedged) as exc:
            self._end_if_fatal(exc)
            self._replace_producer(f"cannot abort the transaction left unfinished: {exc}",
                                   restart=False)

    def _waiting(self) -> bool:
        """A long wait inside a rebalance callback is alive (/healthz), and ends on a stop."""
        self.liveness.beat()
        return self.stopping

    def _restore_trouble(self, exc: Exception, delay: float) -> None:
        self._broker_trouble(f"restoring from checkpoints: {exc}; retrying in {delay:.1f} s")

    def _start_epoch(self, owned: list[int], seek: bool) -> dict[tuple[str, int], int] | None:
        """Restore the owned partitions from their checkpoints: the next offset of each
        owned book partition, or None when a stop request came first (no epoch)."""
        started = time.monotonic()
        txn_timeout_ms = self.settings.transaction_timeout_ms
        # waits for a transaction open on the checkpoints, alive and until a stop; one open
        # past the limit is a KafkaError, and the restore is retried (_restore), unless
        # stopping: then it ends with no epoch
        recovered = self.reader.latest_many(owned, transaction_timeout_ms=txn_timeout_ms,
                                            stop=self._waiting)
        if owned:
            # a killed owner's open transaction may hold outputs past its last progress;
            # they are hidden until it ends, and on Tansu visible after its abort: wait for
            # it to end before looking for them (checkpoints.py)
            limit_s = open_transaction_limit_s(txn_timeout_ms)
            unsettled = await_settled(self.admin, self.output_sources, limit_s,
                                      stop=self._waiting)
            if self.stopping:
                return None  # restoring now could commit outputs that later appear twice
            if unsettled:
                log.warning("a transaction stayed open on output partitions %s for %.0f s "
                            "(the broker did not end it); if it is aborted later on a broker "
                            "that shows aborted records, its outputs appear twice",
                            unsettled, limit_s,
                            extra={"event": "output_unsettled",
                                   "partitions": [f"{t}/{p}" for t, p in unsettled]})
        recovered = self.reader.with_visible(recovered, self.output_sources)
        seen = [pos for r in recovered.values() for pos, copies in (r.visible or {}).items()
                if copies.total()]
        self.hold_until = max(seen) if seen else None
        self.floor_hold = ({f"{t}/{p}": o for (t, p), o in
                            scan_starts(recovered, self.output_sources).items()}
                           if seen else {})
        self._refresh_floor()
        epoch = Epoch.restore(self.engine_config, owned, self.book_topics, self.market_sources,
                              self.n_book, recovered)
        self.epoch = epoch
        self.txn.restarted()  # the group's offsets as this epoch found them: unknown
        market = [TopicPartition(t, p, epoch.next_offsets[(t, p)]) for t, p in self.market_sources]
        self.market.assign(market)
        books = {(t, p): epoch.next_offsets[(t, p)] for p in owned for t in self.book_topics}
        if seek:
            for (t, p), off in books.items():
                self.books.seek(TopicPartition(t, p, off))
        elapsed = time.monotonic() - started
        self.metrics.recovery_seconds.set(elapsed)
        log.info("restored", extra={"event": "restored", "partitions": owned,
                                    "position": epoch.pos,
                                    "checkpoint_records_read": epoch.restore_records,
                                    "visible_uncommitted": sum(
                                        sum(c.total() for c in v.values())
                                        for v in epoch.visible.values()),
                                    "seconds": round(elapsed, 3)})
        return books

    # ------------------------------------------------------------------ health

    def _consumer_of(self, topic: str) -> Consumer:
        return self.books if topic in self.book_set else self.market

    def health(self) -> dict[str, Any]:
        return self.liveness.report()

    def ready(self) -> dict[str, Any]:
        epoch = self.epoch
        return {"status": "ok" if epoch is not None else "not_ready",
                "partitions": epoch.owned if epoch else [],
                "applied": epoch.released if epoch else 0}


__all__ = ["OFFSET_BEGINNING", "KafkaClients", "Processor"]
