"""The processor's rebalance paths (kafka/processor.py ``_on_assign``, ``_on_revoke``,
``_on_lost``) against fakes of its Kafka clients (tests/unit/kafka/fakes.py), no broker:
what an assignment restores and where it reads from, what a revoke commits (or aborts)
before the partitions go, and that a lost assignment commits nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaException
from confluent_kafka import KafkaError as RdKafkaError

from greekstream.kafka.checkpoints import PROGRESS, SNAPSHOT, Progress, Recovered, Snapshot
from greekstream.kafka.processor import Processor
from tests.unit.kafka.fakes import (
    BOOK,
    OUT,
    TOPICS,
    FakeKafka,
    FakeProducer,
    Gateway,
    assign,
    lose,
    processor,
    revoke,
)


def in_flight(partition: int = 0) -> tuple[Processor, FakeKafka, int]:
    """A processor that owns partitions 0 and 1 and has applied one record of
    ``partition`` (rejected by the engine: an output) in a transaction not yet committed."""
    proc, kafka = processor()
    assign(proc, kafka, [0, 1])
    offset = Gateway(proc, kafka).publish(partition)
    proc.step()
    producer = kafka.txn_producer
    assert proc.txn.open and proc.txn.events == 1
    assert producer.steps() == [("init",), ("begin",), ("send", OUT, b"desk", -1)]
    return proc, kafka, offset


def outcomes(proc: Processor) -> dict[str, float]:
    return {s.labels["outcome"]: s.value for m in proc.metrics.transactions.collect()
            for s in m.samples if s.name.endswith("_total")}


# ---------------------------------------------------------------------- assignment

def test_the_processor_joins_the_group_with_its_three_rebalance_callbacks() -> None:
    proc, kafka = processor()
    assert kafka.books.calls == [("subscribe", TOPICS.book_topics)]
    assert set(kafka.books.callbacks) == {"on_assign", "on_revoke", "on_lost"}
    assert kafka.txn_producer.calls == [("init",)]  # the transactional id, before any batch
    assert proc.ready() == {"status": "not_ready", "partitions": [], "applied": 0}


def test_an_assignment_without_checkpoints_reads_every_source_from_the_beginning() -> None:
    proc, kafka = processor()
    assign(proc, kafka, [1])
    assert kafka.checkpoints.calls == [("latest_many", [1])]
    assert kafka.books.assigned == {(t, 1): OFFSET_BEGINNING for t in TOPICS.book_topics}
    assert kafka.market.assigned == {(t, 0): OFFSET_BEGINNING for t in TOPICS.market_topics}
    assert proc.ready() == {"status": "ok", "partitions": [1], "applied": 0}
    assert proc.txn.sent_offsets == [] and not proc.txn.open


def test_an_assignment_looks_for_visible_outputs_only_once_the_open_transactions_ended(
) -> None:
    """A killed owner's open transaction may hold outputs that Tansu shows once it is
    aborted: recovery waits for the transactions open on the output partitions when it
    starts (read_committed end below the log end) before it scans them."""
    proc, kafka = processor()
    admin, reader = kafka.admin_client, kafka.checkpoints
    admin.end, admin.open_for = 10, 3
    admin.calls.clear()
    open_when_scanned: list[int] = []
    scan = reader.with_visible
    reader.with_visible = lambda recovered, outputs: (  # type: ignore[method-assign]
        open_when_scanned.append(admin.open_for), scan(recovered, outputs))[1]
    assign(proc, kafka, [0])
    # the log's end once, then the read_committed end until the transaction is gone
    assert admin.calls[:5] == ["READ_UNCOMMITTED", *["READ_COMMITTED"] * 4]
    assert "READ_COMMITTED" not in admin.calls[5:]
    assert open_when_scanned == [0], "scanned the outputs while a transaction was open"
    assert proc.ready()["status"] == "ok"


def test_an_assignment_rides_out_a_broker_error_while_it_waits_for_open_transactions(
) -> None:
    proc, kafka = processor()
    admin = kafka.admin_client
    admin.end, admin.open_for, admin.fail_next = 10, 1, 2
    admin.calls.clear()
    assign(proc, kafka, [0])  # used to raise out of the rebalance callback: the process ended
    assert admin.calls[:4] == ["READ_UNCOMMITTED", "READ_UNCOMMITTED", "READ_UNCOMMITTED",
                               "READ_COMMITTED"]
    assert proc.ready() == {"status": "ok", "partitions": [0], "applied": 0}


def test_a_checkpoint_transaction_open_past_its_limit_is_reported_and_the_restore_retried(
        caplog: pytest.LogCaptureFixture) -> None:
    """The checkpoint reader waits for an open transaction at most the processor's
    transaction timeout plus a margin, then raises: the restore says why in the log and
    /healthz, and is tried again with backoff (nothing is read past the open transaction)."""
    proc, kafka = processor()
    reader = kafka.checkpoints
    reader.fail_next = 1
    with caplog.at_level(logging.WARNING, logger="greekstream.process"):
        assign(proc, kafka, [0])
    assert reader.transaction_timeout_ms == proc.settings.transaction_timeout_ms
    assert reader.calls == [("latest_many", [0]), ("latest_many", [0])]
    trouble = [r for r in caplog.records if getattr(r, "event", None) == "broker_trouble"]
    assert [r.getMessage() for r in trouble] == [
        "kafka: restoring from checkpoints: checkpoint partitions [0]: a transaction stayed "
        "open; retrying in 0.1 s"]
    assert "a transaction stayed open" in proc.health()["last_error"]
    assert proc.ready() == {"status": "ok", "partitions": [0], "applied": 0}


def test_a_stop_while_recovery_waits_for_a_checkpoint_transaction_restores_nothing() -> None:
    """The wait for a transaction open on the checkpoints is alive (/healthz) and ends at
    a stop, like the wait on the outputs: no epoch, nothing retried."""
    proc, kafka = processor()
    reader = kafka.checkpoints
    reader.open_for = 1_000
    proc.liveness.last_loop = 0.0
    proc.stopping = True
    assign(proc, kafka, [0])
    assert reader.open_for == 1_000, "the wait ended at the stop, not at the limit"
    assert reader.calls == [("latest_many", [0])]
    assert proc.liveness.last_loop > 0.0  # beaten during the wait
    assert proc.epoch is None and proc.ready()["status"] == "not_ready"


def test_an_assignment_of_no_partitions_restores_nothing_and_does_not_fail() -> None:
    """More instances than partitions: one is assigned none (with_visible took min() of
    nothing and raised out of the rebalance callback)."""
    proc, kafka = processor()
    kafka.admin_client.calls.clear()
    kafka.books.callbacks["on_assign"](kafka.books, [])
    assert "READ_COMMITTED" not in kafka.admin_client.calls  # nothing of ours to wait for
    assert proc.ready() == {"status": "ok", "partitions": [], "applied": 0}


def test_a_stop_while_recovery_waits_for_an_open_transaction_restores_nothing() -> None:
    """Restoring with the transaction still open could commit outputs that appear again
    once it is aborted: a stop during the wait leaves the processor with no epoch."""
    proc, kafka = processor()
    admin = kafka.admin_client
    admin.end, admin.open_for = 10, 1_000
    proc.stopping = True
    assign(proc, kafka, [0])
    assert proc.epoch is None and proc.ready()["status"] == "not_ready"
    assert admin.open_for > 990, "the wait ended at the stop, not at the limit"


def test_a_revoke_commits_the_batch_in_flight_with_a_checkpoint_the_next_owner_starts_from(
) -> None:
    proc, kafka, offset = in_flight(partition=0)
    producer = kafka.txn_producer
    producer.calls.clear()
    revoke(kafka)
    ckpt = TOPICS.checkpoints
    steps = producer.steps()
    assert steps[:5] == [("send", ckpt, SNAPSHOT, 0), ("send", ckpt, SNAPSHOT, 1),
                         ("flush",), ("flush",), ("send", ckpt, PROGRESS, 0)]
    assert steps[-1] == ("commit",) and "abort" not in [c[0] for c in steps]
    (offsets,) = [c[1] for c in producer.calls if c[0] == "send_offsets"]
    assert (BOOK, 0, offset + 1) in offsets
    assert outcomes(proc) == {"committed": 1.0}
    # the partitions are let go: no epoch, no batch, no market data read, no restore
    assert proc.epoch is None and not proc.txn.open and proc.txn.events == 0
    assert kafka.market.assigned == {} and kafka.checkpoints.calls == [("latest_many", [0, 1])]
    assert proc.ready()["status"] == "not_ready"

    # the next owner of partition 0 restores from that checkpoint, without replay
    snapshot = Snapshot.decode(dict(producer.sent(SNAPSHOT))[0])
    progress = Progress.decode(dict(producer.sent(PROGRESS))[0])
    nxt, kafka2 = processor()
    kafka2.checkpoints.recovered = {0: Recovered(progress, snapshot, 2)}
    assign(nxt, kafka2, [0])
    assert kafka2.books.assigned[(BOOK, 0)] == offset + 1
    assert nxt.epoch is not None and nxt.epoch.suppress == {0: progress.pos}


def test_a_revoke_whose_commit_fails_before_sending_aborts_the_transaction() -> None:
    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.undelivered = 1  # the outputs are not delivered: no progress may follow
    producer.calls.clear()
    revoke(kafka)
    assert producer.steps()[-1] == ("abort",)
    assert [c[0] for c in producer.calls].count("abort") == 1
    assert "commit" not in [c[0] for c in producer.calls]
    assert proc.epoch is None and not proc.txn.open and proc.txn.emitted == []
    assert kafka.market.assigned == {}


@pytest.mark.parametrize("fatal", [False, True])
def test_a_revoke_whose_commit_is_refused_aborts_once_and_does_not_restore(fatal: bool) -> None:
    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.fail_commit = KafkaException(RdKafkaError(RdKafkaError._TIMED_OUT, fatal=fatal))
    producer.calls.clear()
    revoke(kafka)
    calls = [c[0] for c in producer.calls]
    assert calls.count("commit") == 1 and calls.count("abort") == 1
    assert calls[-1] == "abort"
    assert outcomes(proc) == {"aborted": 1.0}
    # the partitions are going to another owner: nothing is restored here
    assert kafka.checkpoints.calls == [("latest_many", [0, 1])]
    assert proc.epoch is None and not proc.txn.open and proc.txn.events == 0
    assert kafka.market.assigned == {}


def test_a_stop_whose_commit_cannot_finish_leaves_the_transaction_open_and_stops() -> None:
    """SIGTERM's final commit, which the broker keeps failing (retriable) past
    STOP_COMMIT_DEADLINE_S: KafkaTxnProducer.commit raises ProducerWedged. librdkafka
    refuses an abort while it holds a commit, so the processor neither aborts nor replaces
    its producer: it drops the batch and its epoch (nothing restored, nothing more
    committed, not even at the revoke of the group's close), as a SIGKILL would leave it."""
    from greekstream.kafka.transaction import ProducerWedged

    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.fail_commit = ProducerWedged("commit_transaction still failing after the stop")
    producer.calls.clear()
    proc.stopping = True
    proc._commit(checkpoint=True)  # what run() does once stopping
    calls = [c[0] for c in producer.calls]
    assert calls.count("commit") == 1 and "abort" not in calls and "replace" not in calls
    assert outcomes(proc) == {"left_open": 1.0}
    assert proc.epoch is None and not proc.txn.open and proc.txn.events == 0
    assert kafka.checkpoints.calls == [("latest_many", [0, 1])]  # no restore
    producer.calls.clear()
    revoke(kafka)  # the group consumer's close revokes: nothing left to commit
    assert producer.calls == []


def test_a_wedged_commit_while_running_replaces_the_producer_and_restores() -> None:
    from greekstream.kafka.transaction import ProducerWedged

    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.fail_commit = ProducerWedged("send_offsets_to_transaction did not return")
    producer.calls.clear()
    proc._commit(checkpoint=False)
    calls = [c[0] for c in producer.calls]
    assert "replace" in calls and "abort" not in calls
    assert outcomes(proc) == {"aborted": 1.0}
    # restored from the checkpoints: a new epoch, the batch dropped
    assert kafka.checkpoints.calls == [("latest_many", [0, 1])] * 2
    assert proc.epoch is not None and not proc.txn.open and proc.txn.events == 0


def restored_after(proc: Processor, kafka: FakeKafka) -> None:
    """The batch was dropped and the epoch restored from the checkpoints: a second read of
    them, the book partitions sought back to where they say."""
    assert kafka.checkpoints.calls == [("latest_many", [0, 1])] * 2
    assert proc.epoch is not None and not proc.txn.open and proc.txn.events == 0
    assert ("seek", BOOK, 0, OFFSET_BEGINNING) in kafka.books.calls  # no checkpoint yet


def test_outputs_not_delivered_while_running_abort_the_transaction_and_restore() -> None:
    """The broker out of reach past DELIVERY_DEADLINE_S while a batch commits: no progress
    may follow outputs not delivered, so the transaction is aborted (librdkafka purges what
    is still queued) and the epoch restored, as after a failed commit. The process goes on:
    it used to end with a KafkaError ("outputs not delivered within 30 s")."""
    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.undelivered = 1
    producer.calls.clear()
    proc._commit(checkpoint=False)
    calls = [c[0] for c in producer.calls]
    assert "abort" in calls and "commit" not in calls and "replace" not in calls
    assert outcomes(proc) == {"aborted": 1.0}
    restored_after(proc, kafka)


def test_a_snapshot_not_delivered_while_running_aborts_the_checkpoint_and_restores() -> None:
    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.deliver_snapshots = False
    producer.calls.clear()
    proc._commit(checkpoint=True)
    calls = [c[0] for c in producer.calls]
    assert "abort" in calls and "commit" not in calls
    assert outcomes(proc) == {"aborted": 1.0}
    restored_after(proc, kafka)


def test_a_failed_transaction_whose_abort_fails_too_replaces_the_producer() -> None:
    """The broker still out of reach when the abort is tried: the abort times out too (it
    ended the process before). The producer is replaced instead: its successor, with the
    same transactional.id, fences the transaction once the broker answers."""
    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.undelivered = 1

    def timed_out() -> None:
        producer.calls.append(("abort",))
        raise KafkaException(RdKafkaError(RdKafkaError._TIMED_OUT, "abort timed out"))
    producer.abort = timed_out  # type: ignore[method-assign]
    producer.calls.clear()
    proc._commit(checkpoint=False)
    calls = [c[0] for c in producer.calls]
    assert calls.index("abort") < calls.index("replace")
    assert outcomes(proc) == {"aborted": 1.0}
    restored_after(proc, kafka)


def test_a_record_the_transaction_cannot_take_aborts_it_and_restores() -> None:
    """A produce refused mid-batch (the transaction in an abortable error after a delivery
    failed): the batch is aborted and the epoch restored, instead of the KafkaException
    ending the process out of step()."""
    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.fail_send = KafkaException(RdKafkaError(RdKafkaError._STATE, "abortable error"))
    Gateway(proc, kafka).publish(1)
    producer.calls.clear()
    proc.step()
    calls = [c[0] for c in producer.calls]
    assert calls[:2] == ["send", "abort"] and "commit" not in calls
    assert outcomes(proc) == {"aborted": 1.0}
    restored_after(proc, kafka)


def test_a_fatal_commit_error_while_running_ends_the_process() -> None:
    """Fenced by a newer incarnation of the instance id: that one owns the work now; the
    process ends (KafkaError) without an abort, which a fenced producer refuses."""
    from greekstream.errors import KafkaError

    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.fail_commit = KafkaException(RdKafkaError(RdKafkaError._FENCED, "fenced",
                                                       fatal=True))
    producer.calls.clear()
    with pytest.raises(KafkaError, match="transactional producer failed"):
        proc._commit(checkpoint=False)
    assert "abort" not in [c[0] for c in producer.calls]
    assert outcomes(proc) == {"aborted": 1.0}


def test_a_stop_whose_final_commit_fails_otherwise_leaves_it_open_and_stops() -> None:
    """SIGTERM's final commit failing outside the commit call (the outputs not delivered
    within 30 s): run() stops as with a commit it cannot finish, instead of raising out
    of run() and retrying the whole checkpoint at the close's revoke."""
    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.undelivered = 1
    producer.calls.clear()
    proc.stop()
    proc.run()  # joins (a no-op with the fakes), commits the batch in flight, closes
    calls = [c[0] for c in producer.calls]
    assert "commit" not in calls and "abort" not in calls
    assert outcomes(proc) == {"left_open": 1.0}
    assert proc.epoch is None and not proc.txn.open
    assert ("close",) in kafka.books.calls and ("close",) in kafka.market.calls


def test_a_revoke_whose_abort_is_refused_drops_the_batch() -> None:
    """A failed revoke commit whose abort librdkafka refuses (a commit it still holds):
    the batch is dropped and the rebalance goes on, nothing raised out of the callback."""
    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.undelivered = 1

    def refused() -> None:
        raise KafkaException(RdKafkaError(RdKafkaError._CONFLICT, "commit in progress"))
    producer.abort = refused  # type: ignore[method-assign]
    revoke(kafka)
    assert proc.epoch is None and not proc.txn.open and proc.txn.emitted == []
    assert kafka.market.assigned == {}


def test_a_revoke_without_an_assignment_commits_nothing() -> None:
    proc, kafka = processor()
    revoke(kafka)
    assert kafka.txn_producer.calls == [("init",)]
    assert proc.epoch is None and ("unassign",) in kafka.market.calls


def test_lost_partitions_abort_the_batch_in_flight_and_commit_nothing() -> None:
    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    producer.calls.clear()
    lose(kafka)
    assert producer.calls == [("abort",)]  # no snapshot, no progress, no offsets, no commit
    assert proc.epoch is None and not proc.txn.open and proc.txn.emitted == []
    assert kafka.market.assigned == {}
    lose(kafka)  # lost again with nothing open: nothing to abort
    assert producer.calls == [("abort",)]


def test_a_lost_assignment_whose_abort_fails_resumes_it_before_the_next_transaction(
) -> None:
    """The assignment lost in an outage, the abort timing out too: it used to raise out of
    the callback with the batch still in flight. Now the batch is dropped, and the abort
    is resumed before the next transaction begins."""
    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    failures = [KafkaException(RdKafkaError(RdKafkaError._TIMED_OUT, "abort timed out"))]

    def abort() -> None:
        producer.calls.append(("abort",))
        if failures:
            raise failures.pop()
    producer.abort = abort  # type: ignore[method-assign]
    producer.calls.clear()
    lose(kafka)
    assert producer.calls == [("abort",)]
    assert proc.epoch is None and not proc.txn.open and proc.txn.emitted == []
    assert kafka.market.assigned == {}
    assign(proc, kafka, [0, 1])
    Gateway(proc, kafka).publish(1)
    proc.step()
    assert producer.steps()[:3] == [("abort",), ("abort",), ("begin",)]
    assert proc.txn.open and proc.txn.events == 1


def left_unfinished(path: str) -> tuple[Processor, FakeKafka, list[bool]]:
    """A transaction whose abort timed out (the broker away), left open on the broker
    until an abort reaches it: a revoke whose commit was refused after its snapshots and
    progress were written (open on the checkpoint partitions), or a lost assignment
    (outputs only: open on the output partitions). The next abort succeeds (the broker
    back). The reader and the admin client note, at each request of a restore, whether
    it is still open; the reader refuses to read checkpoints past it (as it does past
    any open transaction: StillOpen), and a stop ends the restore's retries."""
    from greekstream.errors import KafkaError as StillOpen

    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    on_broker = [True]  # the transaction is open on the broker
    timeouts = [KafkaException(RdKafkaError(RdKafkaError._TIMED_OUT, "abort timed out"))]

    def abort() -> None:
        producer.calls.append(("abort",))
        if timeouts:
            raise timeouts.pop()
        on_broker.clear()
    producer.abort = abort  # type: ignore[method-assign]
    seen: list[bool] = []  # at each request of a restore: the transaction still open
    reader, admin = kafka.checkpoints, kafka.admin_client
    latest_many, list_offsets = reader.latest_many, admin.list_offsets

    def read(partitions: list[int], **kwargs: Any) -> Any:
        seen.append(bool(on_broker))
        if on_broker and path == "revoke":
            if len(seen) >= 3:
                proc.stop()  # (the test's end: it waited for ever)
            raise StillOpen(f"checkpoint partitions {partitions}: a transaction stayed open")
        return latest_many(partitions, **kwargs)

    def ends(request: Any, **kwargs: Any) -> Any:
        seen.append(bool(on_broker))
        return list_offsets(request, **kwargs)
    reader.latest_many = read  # type: ignore[method-assign]
    admin.list_offsets = ends  # type: ignore[method-assign]
    if path == "revoke":
        producer.fail_commit = KafkaException(RdKafkaError(RdKafkaError._STATE, "abortable"))
        revoke(kafka)
    else:
        lose(kafka)
    assert proc.epoch is None and proc.txn.unfinished and seen == []
    return proc, kafka, seen


@pytest.mark.parametrize("path", ["revoke", "lost"])
def test_a_transaction_left_unfinished_is_ended_before_the_next_restore_waits_for_it(
        path: str) -> None:
    """Its abort was resumed before the next transaction began, after the restore of the
    next assignment, which waits for the transactions open on the checkpoint and output
    partitions to end: for this one too, which only that abort ends on a broker that
    never times one out (Tansu). Open on the checkpoints, the restore was retried for
    ever; open on the outputs, it went on after its limit without seeing them and
    produced them again, and the late abort showed the first copies (Tansu shows an
    aborted transaction's records): doubled. The restore now ends it first."""
    proc, kafka, seen = left_unfinished(path)
    producer = kafka.txn_producer
    producer.calls.clear()
    assign(proc, kafka, [0, 1])
    assert proc.epoch is not None and not proc.txn.unfinished  # restored
    assert seen and not any(seen)  # nothing read while it was open
    assert producer.calls[:1] == [("abort",)]


def test_a_transaction_left_unfinished_whose_abort_fails_again_is_fenced_before_the_restore(
) -> None:
    """The broker still away at the next assignment: the replacement's init_transactions
    (retried until the broker answers) fences the transaction before the restore."""
    proc, kafka, _ = left_unfinished("lost")
    producer = kafka.txn_producer

    def timed_out() -> None:
        producer.calls.append(("abort",))
        raise KafkaException(RdKafkaError(RdKafkaError._TIMED_OUT, "abort timed out"))
    producer.abort = timed_out  # type: ignore[method-assign]
    producer.calls.clear()
    assign(proc, kafka, [0, 1])
    assert producer.calls == [("abort",), ("replace",)]
    assert proc.epoch is not None and not proc.txn.unfinished


def abort_fenced(producer: FakeProducer) -> None:
    """Its aborts from now on are refused: a newer incarnation of the instance id took
    the transactional.id (a fatal error)."""
    def fenced() -> None:
        producer.calls.append(("abort",))
        raise KafkaException(RdKafkaError(RdKafkaError._FENCED, "fenced", fatal=True))
    producer.abort = fenced  # type: ignore[method-assign]
    producer.calls.clear()


@pytest.mark.parametrize("failure", ["undelivered", "offsets"])
def test_a_failed_transaction_whose_abort_is_fenced_ends_the_process(failure: str) -> None:
    """A newer incarnation of the instance id took the transactional.id while a batch was
    in flight: the commit fails otherwise than with the fatal error (its outputs not
    delivered, send_offsets refused), and the abort is refused with it. The producer was
    replaced: its init_transactions took the id back, fencing the newer incarnation, and
    both went on with the same work. Now the process ends, as on a fatal commit."""
    from greekstream.errors import KafkaError

    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    if failure == "undelivered":
        producer.undelivered = 1
    else:
        producer.fail_offsets = KafkaException(RdKafkaError(RdKafkaError._TIMED_OUT,
                                                            retriable=True))
    abort_fenced(producer)
    with pytest.raises(KafkaError, match=r"transactional producer failed.*fenced"):
        proc._commit(checkpoint=False)
    assert "replace" not in [c[0] for c in producer.calls]


def test_a_transaction_left_unfinished_whose_abort_is_fenced_ends_the_process() -> None:
    from greekstream.errors import KafkaError

    proc, kafka, _ = left_unfinished("lost")
    producer = kafka.txn_producer
    abort_fenced(producer)
    with pytest.raises(KafkaError, match=r"transactional producer failed.*fenced"):
        assign(proc, kafka, [0, 1])
    assert producer.calls == [("abort",)]  # not replaced


def test_records_fetched_before_a_rebalance_are_not_applied_after_it() -> None:
    proc, kafka = processor()
    assign(proc, kafka, [0, 1])
    gateway = Gateway(proc, kafka)
    gateway.publish(0)  # fetched for partition 0 ...
    revoke(kafka)
    assign(proc, kafka, [1])  # ... which is now another instance's
    proc.step()
    assert proc.epoch is not None and proc.epoch.released == 0 and proc.txn.events == 0
    assert kafka.txn_producer.steps() == [("init",)]


def test_a_batch_stops_taking_records_once_it_has_lasted_batch_max_ms() -> None:
    """Released records were applied up to batch_max_events (5,000) in one go and the
    time limit looked at only after: a batch of slow records lasted 5,000 of them
    (~0.5 s at the market profile's rate) against batch_max_ms of 50. With each record
    taking 1 ms of the transaction's clock, the release stops at the first look past
    50 ms, and the batch is due."""
    from greekstream.kafka.processor import CLOCK_EVERY
    from greekstream.settings import ProcessorSettings
    from tests.unit.kafka.fakes import TOPICS as T

    kafka = FakeKafka(1, **dict.fromkeys([*T.book_topics, T.checkpoints], 2))
    proc = Processor(ProcessorSettings(instance_id="i1", batch_max_ms=50), clients=kafka)
    proc.start()
    assign(proc, kafka, [0, 1])
    assert proc.epoch is not None
    epoch = proc.epoch
    proc.txn.clock = lambda: epoch.released * 0.001  # each record: 1 ms
    gateway = Gateway(proc, kafka)
    for _ in range(300):
        gateway.publish(0)
    commits = lambda: kafka.txn_producer.steps().count(("commit",))  # noqa: E731
    proc.step()  # polls all 300, applies until the first look past 50 ms, commits them
    assert epoch.released == CLOCK_EVERY < 300 and commits() == 1 and proc.txn.events == 0
    proc.step()  # the next batch starts where that one stopped
    assert epoch.released == 2 * CLOCK_EVERY and commits() == 2


def test_a_broker_problem_being_waited_out_keeps_the_process_healthy() -> None:
    """A replacement waiting for the old producer, init_transactions retried, a restore
    retried: each reports the trouble and is alive, so /healthz does not ask for a
    restart (which would not bring the broker back) while the loop waits."""
    proc, _ = processor()
    proc.liveness.last_loop -= 3600  # the loop last turned an hour ago
    assert proc.health()["status"] == "unhealthy"
    proc._broker_trouble("init_transactions: broker unreachable; retrying in 1.0 s")
    assert proc.health() == {"status": "ok", "instance": "i1",
                             "last_error": "init_transactions: broker unreachable; "
                                           "retrying in 1.0 s"}


def test_transactions_failing_in_a_row_are_retried_with_a_growing_pause(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An error that repeats (a record the broker refuses, a broker still away) made the
    process exit; now it is retried, the first at once, then with a pause that doubles up
    to backoff_max_s; a commit resets it."""
    from greekstream.kafka import processor as module

    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer
    pauses: list[float] = []
    now = [0.0]

    def sleep(s: float) -> None:
        pauses.append(s)
        now[0] += s
    monkeypatch.setattr(module.time, "sleep", sleep)
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    producer.undelivered = 1
    slept = []
    for _ in range(8):
        proc.txn.begin()
        before = now[0]
        proc._commit(checkpoint=False)
        slept.append(round(now[0] - before, 3))
    assert slept == [0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0]  # backoff_max_s 5
    assert proc.failed_in_a_row == 8 and "8 transactions failed in a row" in \
        proc.health()["last_error"]
    proc.failed_in_a_row = 5_000  # days of an outage: the pause stays at its cap
    proc.txn.begin()
    before = now[0]
    proc._commit(checkpoint=False)
    assert now[0] - before == 5.0
    producer.undelivered = 0
    Gateway(proc, kafka).publish(0)
    proc.step()
    proc._commit(checkpoint=False)
    assert proc.failed_in_a_row == 0


def test_a_record_refused_every_time_is_retried_with_a_growing_pause_past_a_replay_commit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A record whose output the broker refuses (too large) fails its transaction every
    time it is applied again; what comes before it since the checkpoint is applied again
    first and committed (the batch timed out, or caught up). Any commit reset the count
    of failures in a row, so that one did each time: the record was retried at once, for
    ever, with a restore each time. Only a commit that reaches where the failures
    happened (its record committed) resets it now."""
    from greekstream.kafka import processor as module

    proc, kafka = processor()
    assign(proc, kafka, [0, 1])
    producer = kafka.txn_producer
    send = producer.send

    def refusing(topic: str, value: bytes, key: bytes | None, *args: Any, **kwargs: Any
                 ) -> None:
        if b"too large" in value:
            raise KafkaException(RdKafkaError(RdKafkaError.MSG_SIZE_TOO_LARGE))
        send(topic, value, key, *args, **kwargs)
    producer.send = refusing  # type: ignore[method-assign]
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s
    monkeypatch.setattr(module.time, "sleep", sleep)
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    paused = []
    for _ in range(4):
        # the epoch restored from the beginning (no checkpoint yet) reads it all again
        gateway = Gateway(proc, kafka)
        gateway.publish(0)
        proc.step()
        proc._commit(checkpoint=False)  # what comes before it commits
        assert not proc.txn.events
        gateway.publish(0, b'"too large"')
        before = now[0]
        proc.step()  # its output refused: aborted, restored, and the pause
        paused.append(round(now[0] - before, 3))
    assert outcomes(proc) == {"committed": 4.0, "aborted": 4.0}
    assert paused == [0.0, 0.1, 0.2, 0.4]
    gateway = Gateway(proc, kafka)  # the broker takes it now
    producer.send = send  # type: ignore[method-assign]
    gateway.publish(0)
    gateway.publish(0, b'"too large"')
    proc.step()
    proc._commit(checkpoint=False)
    assert proc.failed_in_a_row == 0


def test_a_stop_with_a_producer_wedged_inside_confluent_kafka_exits_cleanly() -> None:
    """SIGTERM with the producer failing every call inside confluent-kafka's C layer (a
    SystemError: ProducerWedged): the final commit leaves the transaction open, as it
    should, and then the close's flush of that producer raised ProducerWedged out of
    run(): exit 1 with a traceback instead of the clean stop (exit 0)."""
    from greekstream.kafka.transaction import ProducerWedged

    proc, kafka, _ = in_flight()
    producer = kafka.txn_producer

    def wedged(timeout_s: float) -> int:
        producer.calls.append(("flush",))
        raise ProducerWedged("flush failed inside confluent-kafka: SystemError(...)")
    producer.flush = wedged  # type: ignore[method-assign]
    producer.calls.clear()
    proc.stop()
    proc.run()
    assert outcomes(proc) == {"left_open": 1.0}
    assert [c[0] for c in producer.calls].count("flush") == 2  # the commit's, the close's
    assert ("close",) in kafka.books.calls and ("close",) in kafka.market.calls
