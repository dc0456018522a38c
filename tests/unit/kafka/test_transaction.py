"""The processor's transaction (kafka/transaction.py) against a fake of its producer seam,
no broker: what it commits, in which order, and what an abort leaves behind."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException

from greekstream.core.engine import EngineConfig
from greekstream.kafka.checkpoints import (
    PROGRESS,
    SNAPSHOT,
    Recovered,
    Snapshot,
    join_snapshot,
    snapshot_chunk,
    snapshot_records,
)
from greekstream.kafka.epoch import Emitted, Epoch
from greekstream.kafka.merge import Record
from greekstream.kafka.topics import Topics
from greekstream.kafka.transaction import (
    BATCH_PER_COMMIT,
    BATCH_STRETCH_MAX,
    CommitFailed,
    ProducerWedged,
    Transaction,
    Undelivered,
)
from greekstream.settings import ProcessorSettings
from tests.unit.kafka.fakes import Clock, FakeProducer

TOPICS = Topics("x")
BOOK = TOPICS.book_topics[0]
OUT = TOPICS.for_output("rejected")


def epoch() -> Epoch:
    return Epoch.restore(EngineConfig(), [0, 1], TOPICS.book_topics,
                         [(TOPICS.market_topics[0], 0)], 2,
                         {0: Recovered(None, None, 0), 1: Recovered(None, None, 0)})


def applied(ep: Epoch, txn: Transaction, partition: int, offset: int) -> list[Emitted]:
    """One book record of ``partition`` applied (as the runtime's rejection of it: an
    output without needing a valid event), its output produced in the transaction."""
    rec = Record((offset, 1, partition, offset), b"{}", b"desk", BOOK, partition, offset, 0)
    txn.starting()
    emitted = ep.poison(rec, ValueError("bad"))
    txn.produce(ep, emitted)
    txn.applied(1)
    return emitted


def transaction(settings: ProcessorSettings | None = None) -> tuple[
        Transaction, FakeProducer, Clock]:
    producer, clock = FakeProducer(), Clock()
    return Transaction(producer, TOPICS, settings or ProcessorSettings(), clock), producer, clock


def one_batch_committed() -> tuple[Transaction, FakeProducer, Epoch]:
    """A transaction that committed one record of partition 0 (offset 5), no checkpoint."""
    txn, producer, _ = transaction()
    ep = epoch()
    applied(ep, txn, 0, 5)
    txn.commit(ep, checkpoint=False, out_floor={})
    return txn, producer, ep


def test_a_checkpoint_commits_outputs_snapshots_progress_offsets_then_commit() -> None:
    txn, producer, _ = transaction()
    ep = epoch()
    (e,) = applied(ep, txn, 1, 41)
    done = txn.commit(ep, checkpoint=True, out_floor={f"{OUT}/1": 7})
    ckpt = TOPICS.checkpoints
    assert producer.steps() == [
        ("begin",),
        ("send", OUT, b"desk", -1),  # 1. the outputs, as the batch applied them
        ("send", ckpt, SNAPSHOT, 0), ("send", ckpt, SNAPSHOT, 1),  # 2. snapshots
        ("flush",),
        ("flush",),  # 3. every output delivered before the progress that covers it
        ("send", ckpt, PROGRESS, 0), ("send", ckpt, PROGRESS, 1),  # 4. progress
        ("send_offsets", [(BOOK, 1, 42)]),  # 5. the group offsets that moved
        ("commit",),  # 6.
    ]
    progress = [orjson.loads(c[4]) for c in producer.calls if c[:3] == ("send", ckpt, PROGRESS)]
    # each progress names its partition's new snapshot (delivered at offset 100) and the
    # position the outputs are committed up to
    assert [p["snapshot_offset"] for p in progress] == [100, 100]
    assert progress[1]["pos"] == list(e.pos) and progress[1]["out_floor"] == {f"{OUT}/1": 7}
    assert done == [e]
    assert (txn.open, txn.emitted, txn.events, txn.since_checkpoint) == (False, [], 0, 0)
    assert txn.sent_offsets == [(BOOK, 1, 42)]


def test_a_batch_without_checkpoint_writes_no_snapshot_and_keeps_counting() -> None:
    txn, producer, _ = one_batch_committed()
    ckpt = TOPICS.checkpoints
    assert SNAPSHOT not in [c[2] for c in producer.calls if c[0] == "send"]
    progress = [orjson.loads(c[4]) for c in producer.calls if c[:3] == ("send", ckpt, PROGRESS)]
    assert [p["snapshot_offset"] for p in progress] == [None, None]  # no snapshot yet
    assert txn.since_checkpoint == 1 and txn.events == 0


def test_group_offsets_are_sent_when_they_moved_not_at_an_idle_checkpoint() -> None:
    txn, producer, ep = one_batch_committed()
    producer.calls.clear()
    txn.commit(ep, checkpoint=True, out_floor={})  # an idle checkpoint: nothing applied
    assert "send_offsets" not in [c[0] for c in producer.calls]
    assert producer.steps()[-1] == ("commit",)
    applied(ep, txn, 0, 6)
    producer.calls.clear()
    txn.commit(ep, checkpoint=False, out_floor={})
    assert ("send_offsets", [(BOOK, 0, 7)]) in producer.calls


def test_a_transaction_with_outputs_sends_the_group_offsets_even_unmoved() -> None:
    """Market records move no group offset, but their outputs must carry the group's
    generation (a KIP-447 broker fences a zombie's transaction by it)."""
    txn, producer, ep = one_batch_committed()
    producer.calls.clear()
    market = TOPICS.market_topics[0]
    rec = Record((6, 0, 0, 3), b"{}", b"BTC", market, 0, 3, 0)
    txn.starting()
    emitted = ep.poison(rec, ValueError("bad"))
    assert emitted
    txn.produce(ep, emitted)
    txn.applied(1)
    txn.commit(ep, checkpoint=False, out_floor={})
    assert ("send_offsets", [(BOOK, 0, 6)]) in producer.calls  # as the last commit sent


def test_a_failed_commit_keeps_the_batch_until_it_is_aborted() -> None:
    txn, producer, ep = one_batch_committed()
    sent = txn.sent_offsets
    (e,) = applied(ep, txn, 0, 6)
    failure = KafkaException(RdKafkaError(RdKafkaError._TIMED_OUT))
    producer.fail_commit = failure
    with pytest.raises(CommitFailed) as raised:
        txn.commit(ep, checkpoint=False, out_floor={})
    assert raised.value.cause is failure
    assert txn.open and txn.emitted == [e] and txn.events == 1
    assert txn.sent_offsets == sent  # not committed: the next transaction sends them again
    producer.calls.clear()
    txn.abort()
    assert producer.calls == [("abort",)]
    assert (txn.open, txn.emitted, txn.events) == (False, [], 0)
    assert txn.since_checkpoint == 2  # what is applied since the checkpoint is replayed...
    txn.restarted()  # ...by the epoch restored from it
    assert (txn.since_checkpoint, txn.sent_offsets) == (0, [])
    txn.abort()  # nothing open: nothing to abort
    assert producer.calls == [("abort",)]


def test_a_wedged_producer_fails_the_commit_before_it_is_tried() -> None:
    txn, producer, _ = transaction()
    ep = epoch()
    applied(ep, txn, 1, 3)
    producer.fail_offsets = ProducerWedged("send_offsets_to_transaction did not return")
    with pytest.raises(CommitFailed) as raised:
        txn.commit(ep, checkpoint=False, out_floor={})
    assert isinstance(raised.value.cause, ProducerWedged)
    assert "commit" not in [c[0] for c in producer.calls] and txn.open


def test_outputs_not_delivered_stop_the_commit_before_any_progress() -> None:
    txn, producer, _ = transaction()
    ep = epoch()
    applied(ep, txn, 0, 1)
    producer.undelivered = 3
    with pytest.raises(CommitFailed, match="3 outputs not delivered within 30 s") as raised:
        txn.commit(ep, checkpoint=False, out_floor={})
    assert isinstance(raised.value.cause, Undelivered)
    assert PROGRESS not in [c[2] for c in producer.calls if c[0] == "send"]
    assert "commit" not in [c[0] for c in producer.calls]
    assert txn.open and txn.events == 1  # still in flight: the caller aborts it


def test_outputs_whose_delivery_failed_stop_the_commit_before_any_progress() -> None:
    """An output whose message timeout passed while the broker was away is no longer
    queued: flush returns 0 for it. Its progress followed, and on Tansu (which shows an
    aborted transaction's records) the restore read that progress as committed and
    skipped outputs that never reached the broker: 27-79 outputs lost in 11 of 15 runs
    of the 45 s outage test."""
    txn, producer, _ = transaction()
    ep = epoch()
    applied(ep, txn, 0, 1)
    applied(ep, txn, 1, 2)
    assert txn.failed == 0
    producer.calls.clear()
    txn.abort()
    producer.fail_delivery = RdKafkaError(RdKafkaError._MSG_TIMED_OUT)
    applied(ep, txn, 0, 3)
    assert producer.undelivered == 0  # nothing left in the queue
    with pytest.raises(CommitFailed, match=r"1 outputs failed delivery.*Message timed out"
                       ) as raised:
        txn.commit(ep, checkpoint=False, out_floor={})
    assert isinstance(raised.value.cause, Undelivered)
    assert PROGRESS not in [c[2] for c in producer.calls if c[0] == "send"]
    assert "commit" not in [c[0] for c in producer.calls]
    txn.abort()
    assert txn.failed == 0  # the next transaction starts clean
    producer.fail_delivery = None
    applied(ep, txn, 1, 4)
    txn.commit(ep, checkpoint=False, out_floor={})


def test_a_snapshot_not_delivered_stops_the_checkpoint() -> None:
    txn, producer, _ = transaction()
    ep = epoch()
    applied(ep, txn, 0, 1)
    producer.deliver_snapshots = False
    with pytest.raises(CommitFailed,
                       match=r"checkpoint not delivered for partitions \[0, 1\]") as raised:
        txn.commit(ep, checkpoint=True, out_floor={})
    assert isinstance(raised.value.cause, Undelivered)
    assert PROGRESS not in [c[2] for c in producer.calls if c[0] == "send"]
    assert txn.since_checkpoint == 1  # no checkpoint taken


def chunked(chunk_bytes: int = 300) -> ProcessorSettings:
    """Settings with chunks smaller than the setting allows (the test's snapshots are
    ~800 bytes; a `market` desk's are MB)."""
    return ProcessorSettings().model_copy(update={"checkpoint_chunk_bytes": chunk_bytes})


def test_a_snapshot_larger_than_a_chunk_is_written_as_consecutive_chunks() -> None:
    """A partition's snapshot over checkpoint_chunk_bytes goes out as snapshot/I/N records
    (a record over 1 MB is refused: MSG_SIZE_TOO_LARGE stopped the processor on a
    `market`-sized desk); its progress names the first chunk."""
    txn, producer, _ = transaction(chunked())
    ep = epoch()
    applied(ep, txn, 1, 41)
    whole = {p: s.encode() for p, s in ep.snapshots().items()}
    txn.commit(ep, checkpoint=True, out_floor={})
    ckpt = TOPICS.checkpoints
    sent = [c for c in producer.calls if c[:2] == ("send", ckpt) and c[2] != PROGRESS]
    n = -(-len(whole[0]) // 300)
    assert n >= 3
    for p in (0, 1):
        mine = [c for c in sent if c[3] == p]
        assert [c[2] for c in mine] == [b"snapshot/%d" % i for i in range(n)]
        assert all(len(c[4]) <= 300 for c in mine)
        assert b"".join(c[4] for c in mine) == whole[p]
    progress = [orjson.loads(c[4]) for c in producer.calls if c[:3] == ("send", ckpt, PROGRESS)]
    assert [p["snapshot_offset"] for p in progress] == [100, 100]  # the first chunk's offset


def test_a_chunk_not_delivered_stops_the_checkpoint() -> None:
    txn, producer, _ = transaction(chunked())
    ep = epoch()
    applied(ep, txn, 0, 1)
    producer.undelivered_keys = {b"snapshot/1"}
    with pytest.raises(CommitFailed, match=r"checkpoint not delivered for partitions \[0, 1\]"):
        txn.commit(ep, checkpoint=True, out_floor={})
    assert PROGRESS not in [c[2] for c in producer.calls if c[0] == "send"]


class Msg:
    def __init__(self, key: bytes | None, value: bytes, offset: int,
                 headers: list[tuple[str, bytes]] | None = None) -> None:
        self._key, self._value, self._offset, self._headers = key, value, offset, headers

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return self._value

    def offset(self) -> int:
        return self._offset


def test_recovery_joins_a_snapshots_chunks_and_refuses_anything_else() -> None:
    value = bytes(range(256)) * 9
    records = snapshot_records(value, 1000)
    assert [k for k, _, _ in records] == [b"snapshot/0", b"snapshot/1", b"snapshot/2"]
    msgs = [Msg(k, v, 50 + i, h) for i, (k, v, h) in enumerate(records)]
    assert join_snapshot(msgs, 50) == value
    assert join_snapshot([*msgs, Msg(PROGRESS, b"{}", 53)], 50) == value
    assert join_snapshot(msgs, 51) is None  # not where the progress said
    assert join_snapshot(msgs[:2], 50) is None  # cut short
    assert join_snapshot([msgs[0], msgs[2]], 50) is None  # a chunk missing
    other = snapshot_records(value + b"x", 1000)  # chunk 1 of another snapshot, same key
    assert join_snapshot([msgs[0], Msg(*other[1][:2], 51, other[1][2]), msgs[2]], 50) is None
    forged = Msg(records[1][0], b"y" * len(records[1][1]), 51, records[1][2])  # same header
    assert join_snapshot([msgs[0], forged, msgs[2]], 50) is None  # the digest tells
    assert join_snapshot([Msg(SNAPSHOT, b"whole", 7)], 7) == b"whole"  # one record
    assert snapshot_records(b"small", 1000) == [(SNAPSHOT, b"small", None)]
    assert [snapshot_chunk(k) for k in (SNAPSHOT, b"snapshot/0", b"snapshot/12")] == [0, 0, 12]
    for key in (PROGRESS, None, b"snapshot/x", b"snapshot/", b"snapshot/-1"):
        assert snapshot_chunk(key) is None
    # a real snapshot round-trips through its chunks
    snap = epoch().snapshots()[0]
    parts = snapshot_records(snap.encode(), 256)
    joined = join_snapshot([Msg(k, v, i, h) for i, (k, v, h) in enumerate(parts)], 0)
    assert joined is not None and Snapshot.decode(joined) == snap


def test_an_output_already_visible_is_not_produced_again() -> None:
    txn, producer, _ = transaction()
    ep = epoch()
    rec = Record((9, 1, 0, 9), b"{}", b"desk", BOOK, 0, 9, 0)
    (e,) = ep.poison(rec, ValueError("bad"))
    from greekstream.core.events import encode
    ep.visible = {0: {rec.pos: Counter({(OUT, encode(e.output)): 1})}}
    txn.produce(ep, [e])
    assert producer.steps() == [("begin",)] and txn.emitted == []
    txn.produce(ep, [e])  # a second copy is ours to produce
    assert producer.steps()[-1] == ("send", OUT, b"desk", -1) and txn.emitted == [e]


def test_when_a_batch_and_a_checkpoint_are_due() -> None:
    s = ProcessorSettings(batch_max_events=3, batch_max_ms=50, checkpoint_every_events=5,
                          checkpoint_interval_s=10.0)
    txn, _, clock = transaction(s)
    ep = epoch()
    assert not txn.pending(checkpoint=True)  # nothing applied, nothing open
    applied(ep, txn, 0, 1)
    assert txn.pending(checkpoint=False)
    assert not txn.batch_due(got=1) and txn.batch_due(got=0)  # caught up: commit now
    clock.now += 0.06
    assert txn.batch_due(got=1)  # batch_max_ms
    clock.now -= 0.06
    applied(ep, txn, 0, 2), applied(ep, txn, 0, 3)
    assert txn.batch_due(got=1)  # batch_max_events
    txn.commit(ep, checkpoint=False, out_floor={})
    assert not txn.pending(checkpoint=False) and txn.pending(checkpoint=True)
    assert not txn.checkpoint_due()
    applied(ep, txn, 0, 4), applied(ep, txn, 0, 5)
    assert txn.checkpoint_due()  # checkpoint_every_events
    txn.commit(ep, checkpoint=True, out_floor={})
    assert not txn.checkpoint_due()
    clock.now += 10.0
    assert txn.checkpoint_due()  # checkpoint_interval_s


def test_a_batch_lasts_at_least_batch_per_commit_times_the_last_commit() -> None:
    """A broker slow to commit (30 ms here) stretches the next batch past batch_max_ms
    (50) to BATCH_PER_COMMIT times the commit, so committing takes at most a fifth of
    the time under load; a caught-up processor still commits at once; once commits are
    fast again, batch_max_ms governs; an outage's 5 s commit stretches the next batch to
    BATCH_STRETCH_MAX x batch_max_ms only."""
    txn, producer, clock = transaction(ProcessorSettings(batch_max_ms=50))
    ep = epoch()
    slow = [0.03]

    def commit() -> None:
        clock.now += slow[0]
    producer.commit = commit  # type: ignore[method-assign]
    applied(ep, txn, 0, 1)
    clock.now += 0.051
    assert txn.batch_due(got=1)  # no commit yet: batch_max_ms alone
    txn.commit(ep, checkpoint=False, out_floor={})
    assert txn.commit_s == pytest.approx(0.03)
    applied(ep, txn, 0, 2)
    clock.now += 0.06
    assert not txn.batch_due(got=1) and txn.batch_due(got=0)
    clock.now += BATCH_PER_COMMIT * 0.03 - 0.06 + 0.001
    assert txn.batch_due(got=1)
    slow[0] = 0.001
    txn.commit(ep, checkpoint=False, out_floor={})
    applied(ep, txn, 0, 3)
    clock.now += 0.049
    assert not txn.batch_due(got=1)
    clock.now += 0.002
    assert txn.batch_due(got=1)
    slow[0] = 5.0  # a commit slowed by an outage: the stretch stops at 10 x batch_max_ms
    txn.commit(ep, checkpoint=False, out_floor={})
    applied(ep, txn, 0, 4)
    clock.now += BATCH_STRETCH_MAX * 0.05 - 0.001
    assert not txn.batch_due(got=1)
    clock.now += 0.002
    assert txn.batch_due(got=1)


def test_the_commit_counted_is_progress_offsets_and_commit_only() -> None:
    """commit_s leaves out the snapshots and the wait for the outputs' delivery: that wait
    grows with the batch, and counting it would stretch every batch to the cap."""
    txn, producer, clock = transaction()
    ep = epoch()

    def flush(_timeout: float) -> int:
        clock.now += 1.0  # a slow delivery (and, with a checkpoint, slow snapshots)
        return 0

    def commit() -> None:
        clock.now += 0.02

    def send_offsets(_offsets: object) -> None:
        clock.now += 0.005
    send = producer.send

    def send_progress(topic: str, value: bytes, key: bytes | None, *args: object,
                      **kwargs: object) -> None:
        if key == PROGRESS:
            clock.now += 0.001
        send(topic, value, key, *args, **kwargs)  # type: ignore[arg-type]
    producer.flush = flush  # type: ignore[method-assign]
    producer.commit = commit  # type: ignore[method-assign]
    producer.send_offsets = send_offsets  # type: ignore[method-assign]
    producer.send = send_progress  # type: ignore[method-assign]
    for offset, checkpoint in ((1, False), (2, True)):
        applied(ep, txn, 0, offset)
        txn.commit(ep, checkpoint=checkpoint, out_floor={})
        # two progress records (1 ms each), the offsets (5 ms), the commit (20 ms)
        assert txn.commit_s == pytest.approx(0.027)


def test_a_batch_starts_at_its_first_record() -> None:
    txn, _, clock = transaction()
    ep = epoch()
    applied(ep, txn, 0, 1)
    first = txn.started
    clock.now += 1.0
    applied(ep, txn, 0, 2)
    assert txn.started == first  # the batch is not empty: it started at its first record
    txn.commit(ep, checkpoint=False, out_floor={})
    applied(ep, txn, 0, 3)
    assert txn.started == clock.now
