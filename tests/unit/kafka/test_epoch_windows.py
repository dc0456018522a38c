"""Emission windows across processor instances (docs/streaming.md, *Emission windows
across instances*): each (book, underlying)'s window closes at the same record whichever
instance owns its book's partition, so a takeover produces every output exactly once.

The log is what the gateway writes: each record in its topic (a book record in its
book's partition) and a mark of its gs-seq in every other source. Epochs are the real
:class:`~greekstream.kafka.epoch.Epoch` over the real engine; a "commit" is what the
processor commits with a transaction (the outputs so far, the progress position) and a
checkpoint is :meth:`Epoch.snapshots`.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greekstream.core.engine import BOOK_TYPES, Engine, EngineConfig
from greekstream.core.events import encode
from greekstream.kafka.checkpoints import Progress, Recovered, Snapshot
from greekstream.kafka.epoch import Emitted, Epoch
from greekstream.kafka.gateway import COPY_HEADER, MARK_KEY, SEQ_HEADER, Gateway
from greekstream.kafka.merge import Record, Source
from greekstream.kafka.topics import Topics
from greekstream.runtime import progress as progress_bar
from tests.unit import builders as b
from tests.unit.test_emission_windows import SETUP, dense_streams

MARKET: list[Source] = [("x.instruments", 0), ("x.quotes", 0), ("x.index", 0)]
BOOK_TOPICS = ["x.books"]
RANK = {"x.instruments": 0, "x.quotes": 1, "x.index": 2, "x.books": 3}
PARTITION = {"desk-a": 0, "desk-b": 1, "desk-c": 0}  # two book partitions
N_BOOK = 2
SOURCES: list[Source] = [*MARKET, ("x.books", 0), ("x.books", 1)]
CONFIG = EngineConfig(emit_interval_ms=100)
Log = dict[Source, list[Record]]
Out = tuple[int, bytes]  # (partition, output)


def route(raw: bytes) -> tuple[Source, bytes | None]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ("x.quotes", 0), None
    kind = doc.get("type")
    if kind in BOOK_TYPES:
        return ("x.books", PARTITION[doc["book"]]), doc["book"].encode()
    topic = {"instrument": "x.instruments", "quote": "x.quotes"}.get(kind, "x.index")
    return (topic, 0), b"BTC"


def build_log(records: Iterable[bytes]) -> Log:
    """Each record at its seq, then a mark of that seq in every other source."""
    log: Log = defaultdict(list)
    for seq, raw in enumerate(records, 1):
        src, key = route(raw)
        for s in [src, *(s for s in SOURCES if s != src)]:
            off = len(log[s])
            is_rec = s == src
            log[s].append(Record((seq, RANK[s[0]], s[1], off), raw if is_rec else b"",
                                 key if is_rec else b"gs-mark", s[0], s[1], off, 0,
                                 not is_rec))
    return log


class Instance:
    """An epoch fed from the log up to a gs-seq at a time, as a consumer would."""

    def __init__(self, epoch: Epoch, log: Log) -> None:
        self.epoch, self.log = epoch, log
        self.fed = {src: (0 if off == OFFSET_BEGINNING else off)
                    for src, off in epoch.next_offsets.items()}
        self.emitted: list[Emitted] = []
        self.book_topics = frozenset(BOOK_TOPICS)

    def run(self, upto_seq: int | None = None) -> Instance:
        epoch = self.epoch
        for src, start in self.fed.items():
            records = self.log[src]
            end = start
            while end < len(records) and (upto_seq is None or records[end].pos[0] <= upto_seq):
                epoch.push(records[end])
                end += 1
            self.fed[src] = end
        while (rec := epoch.next_record()) is not None:
            if rec.is_mark:
                epoch.passed(rec)
            else:
                self.emitted += epoch.apply(rec, self.book_topics)
        return self

    def outputs(self) -> list[Out]:
        return [(e.partition, encode(e.output)) for e in self.emitted]


def fresh(owned: list[int], log: Log) -> Instance:
    recovered = {p: Recovered(None, None, 0) for p in owned}
    return Instance(Epoch.restore(CONFIG, owned, BOOK_TOPICS, MARKET, N_BOOK, recovered), log)


def per_partition(outputs: list[Out]) -> dict[int, list[bytes]]:
    split: dict[int, list[bytes]] = defaultdict(list)
    for p, value in outputs:
        split[p].append(value)
    return dict(split)


def closed_at_the_end(records: list[bytes]) -> list[bytes]:
    """The stream and the gateway's end-of-input tick (it closes every open window)."""
    return [*records, b.tick("end", 10_000.0)]


PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(dense_streams())
def test_each_partitions_outputs_do_not_depend_on_who_else_is_owned(records: list[bytes]) -> None:
    """One instance owning both partitions produces, for each, exactly what an instance
    owning only that partition produces: the same outputs at the same positions."""
    log = build_log(closed_at_the_end(records))
    both = fresh([0, 1], log).run()
    for p in (0, 1):
        alone = fresh([p], log).run()
        assert ([(e.pos, encode(e.output)) for e in both.emitted if e.partition == p]
                == [(e.pos, encode(e.output)) for e in alone.emitted if e.partition == p])


@PROPS
@given(dense_streams(), st.data())
def test_a_takeover_after_a_kill_produces_every_output_once(records: list[bytes],
                                                           data: st.DataObject) -> None:
    """Instances A (partition 0) and B (partition 1) each checkpoint and commit at random
    seqs; A is killed and B takes both partitions, restoring from both checkpoints.
    What A and B committed plus what the restored epoch produces is, per partition and
    in order, what one instance produces straight through: nothing lost, nothing twice."""
    stream = closed_at_the_end(records)
    log = build_log(stream)
    last = len(stream)
    straight = per_partition(fresh([0, 1], log).run().outputs())
    theirs: dict[int, list[int]] = defaultdict(list)  # partition -> seqs of its records
    for seq, raw in enumerate(stream, 1):
        (topic, partition), _key = route(raw)
        if topic == "x.books":
            theirs[partition].append(seq)

    committed: list[Out] = []
    recovered: dict[int, Recovered] = {}
    for p in (0, 1):
        inst = fresh([p], log)
        snap_at = data.draw(st.one_of(st.none(), st.integers(0, last)), label=f"checkpoint {p}")
        # anywhere, or right at one of the other partition's records (the seqs where the
        # instances' views differ: the other's record closes a window this one cannot see)
        others = [seq for seq in theirs[1 - p] if seq >= (snap_at or 0)]
        anywhere = st.integers(snap_at or 0, last)
        commit_at = data.draw(st.one_of(anywhere, st.sampled_from(others)) if others
                              else anywhere, label=f"commit {p}")
        snap: Snapshot | None = None
        if snap_at is not None:
            snap = inst.run(snap_at).epoch.snapshots()[p]
        inst.run(commit_at)
        committed += inst.outputs()
        progress: Progress = inst.epoch.progress(p, {})
        recovered[p] = Recovered(progress, snap, 1)
    restored = Instance(Epoch.restore(CONFIG, [0, 1], BOOK_TOPICS, MARKET, N_BOOK, recovered),
                        log).run()
    assert per_partition(committed + restored.outputs()) == straight


def test_a_close_owed_by_the_other_instance_survives_the_takeover() -> None:
    """The case helper 35 found (docs/streaming.md): desk-b's key is dirty in the window
    [0, 100 ms) when desk-a's trade at 150 ms arrives. Instance B (desk-b) never sees that
    trade; it closes the window at the next quote (160 ms), after it committed its
    progress at the trade's mark. A is killed, B restores both partitions: desk-b's
    close, caused by the quote at 50 ms, must still be produced (it was lost: the
    restored engine closed the window at desk-a's trade before desk-b's books were
    loaded)."""
    t_a3 = b.trade("t-a3", 0.15, "BTC-PERPETUAL", "buy", 100, book="desk-a")
    stream = [
        *SETUP,
        b.trade("t-b2", 0.02, "BTC-PERPETUAL", "buy", 100, book="desk-b"),
        b.quote_mark("q2", 0.05, "BTC-PERPETUAL", 60300),
        t_a3,
        b.quote_mark("q3", 0.16, "BTC-PERPETUAL", 60400),
        b.tick("end", 1.0),
    ]
    log = build_log(stream)
    seq_of_t_a3 = stream.index(t_a3) + 1
    a = fresh([0], log).run(seq_of_t_a3 - 1)
    snap_a = a.epoch.snapshots()[0]
    a.run(seq_of_t_a3)  # applies desk-a's trade and commits there, then is killed
    b_ = fresh([1], log).run(seq_of_t_a3)  # B passes the trade's mark and commits there
    snap_b = b_.epoch.snapshots()[1]
    recovered = {0: Recovered(a.epoch.progress(0, {}), snap_a, 1),
                 1: Recovered(b_.epoch.progress(1, {}), snap_b, 1)}
    restored = Instance(Epoch.restore(CONFIG, [0, 1], BOOK_TOPICS, MARKET, N_BOOK, recovered),
                        log).run()
    got = per_partition(a.outputs() + b_.outputs() + restored.outputs())
    assert got == per_partition(fresh([0, 1], log).run().outputs())
    q2_closes = [orjson.loads(v) for v in got[1] if b'"caused_by":"q2"' in v]
    assert [(o["type"], o["book"]) for o in q2_closes] == [("exposure", "desk-b"),
                                                           ("pnl", "desk-b")]


@PROPS
@given(dense_streams())
def test_in_event_time_order_a_processor_emits_what_a_file_replay_emits(
        records: list[bytes]) -> None:
    """With records in event-time order (no late ones), a book's window closing later
    than the market-wide one changes where an output is produced, never what it says:
    the same outputs as a file replay, each book's in the same order."""
    ordered = [raw for raw in records if not raw.startswith(b'{"type":"quote","event_id":"late')]
    stream = closed_at_the_end(ordered)
    engine = Engine(CONFIG)
    replayed = [o for i, raw in enumerate(stream) for o in engine.handle(raw, f"s:{i}")]
    replayed += engine.flush()
    processor = fresh([0, 1], build_log(stream)).run()
    key = lambda o: getattr(o, "book", None) or ""  # noqa: E731
    by_book: dict[str, list[bytes]] = defaultdict(list)
    for o in replayed:
        if o.type != "rejected":  # (their source names the file, not the topic)
            by_book[key(o)].append(encode(o))
    got: dict[str, list[bytes]] = defaultdict(list)
    for e in processor.emitted:
        if e.output.type != "rejected":
            got[key(e.output)].append(encode(e.output))
    assert got == by_book


# ------------------------------------------------------- what the real gateway publishes

GW_TOPICS = Topics("x")
GW_MARKET: list[Source] = [(t, 0) for t in GW_TOPICS.market_topics]
GW_RANK = {t: i for i, t in enumerate([*GW_TOPICS.market_topics, *GW_TOPICS.book_topics])}


class PartitionedProducer:
    """The gateway's producer: each record into the log, in the partition the layout
    gives it (a book's partition for a book-keyed record, 0 on a market topic)."""

    def __init__(self) -> None:
        self.log: Log = defaultdict(list)

    def produce(self, topic: str, value: bytes, key: bytes | None, partition: int = -1,
                headers: list[tuple[str, bytes]] | None = None, on_delivery: Any = None) -> None:
        on_delivery(None, None)
        if topic not in GW_RANK:
            return  # the gateway's own rejections (an output topic)
        if partition < 0:
            partition = (PARTITION[key.decode()] if key and topic in GW_TOPICS.book_topics
                         else 0)
        stamps = dict(headers or [])
        seq = int(stamps[SEQ_HEADER])
        src = (topic, partition)
        off = len(self.log[src])
        self.log[src].append(Record((seq, GW_RANK[topic], partition, off), value, key, topic,
                                    partition, off, 0, key == MARK_KEY,
                                    copy=COPY_HEADER in stamps))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def gateway_log(records: list[bytes]) -> Log:
    """``greekstream produce`` of these lines (E = 100 ms), a mark after every record."""
    producer = PartitionedProducer()
    counts = {t: (N_BOOK if t in GW_TOPICS.book_topics else 1)
              for t in [*GW_TOPICS.market_topics, *GW_TOPICS.book_topics]}
    gw = Gateway({}, GW_TOPICS, mark_every=1, idle_tick_ms=100, clock=lambda: 0.0,
                 producer=producer, partitions=counts)
    gw.publish([(i, raw, f"f:{i}") for i, raw in enumerate(records, 1)],
               progress_bar.Progress("produce", stream=io.StringIO(), enabled=False))
    return producer.log


def gateway_fresh(owned: list[int], log: Log) -> Instance:
    recovered = {p: Recovered(None, None, 0) for p in owned}
    epoch = Epoch.restore(CONFIG, owned, GW_TOPICS.book_topics, GW_MARKET, N_BOOK, recovered)
    inst = Instance(epoch, log)
    inst.book_topics = frozenset(GW_TOPICS.book_topics)
    return inst


@st.composite
def jittered_streams(draw: st.DrawFn) -> list[bytes]:
    """Dense streams with index prices a little out of event-time order: each one a few
    ms before the record it follows (a feed's jitter), often right after a book record
    that opened a later window."""
    out: list[bytes] = []
    for i, raw in enumerate(draw(dense_streams())):
        if b'"instrument_id":"NOPE"' in raw:
            continue  # (a book record only the engine's state rejects: docs/streaming.md)
        out.append(raw)
        if i >= len(SETUP) and draw(st.integers(0, 3)) == 0:
            t = (b.parse(orjson.loads(raw)["ts"]) - b.parse(b.T0)) / 1e6 if raw.startswith(
                b'{"type"') else 0.0
            back = draw(st.sampled_from([0.0004, 0.003, 0.02]))
            out.append(b.index(f"j{i}", max(t - back, 0.0), draw(st.floats(50000, 70000))))
    return out


def by_book(outputs: Iterable[Any]) -> dict[str, list[bytes]]:
    books: dict[str, list[bytes]] = defaultdict(list)
    for o in outputs:
        if o.type != "rejected":  # (their source names the file or the topic)
            books[getattr(o, "book", None) or ""].append(encode(o))
    return dict(books)


@PROPS
@given(jittered_streams())
def test_behind_the_gateway_each_instance_emits_what_a_file_replay_emits(
        records: list[bytes]) -> None:
    """The gateway ticks before a book record that closes a window, so every instance
    closes it there, as a file replay does at that record: one instance owning every
    partition, or each partition alone, emits each book's outputs of a file replay, in
    order, even with index prices out of event-time order (without the tick, a book's
    window closed at the next market record, and a late index price fell in the window
    the file had closed: a close of the file's was missing)."""
    engine = Engine(CONFIG)
    replayed = [o for i, raw in enumerate(records) for o in engine.handle(raw, f"f:{i}")]
    want = by_book([*replayed, *engine.flush()])
    log = gateway_log(records)
    assert by_book(e.output for e in gateway_fresh([0, 1], log).run().emitted) == want
    alone: dict[str, list[bytes]] = {}
    for p in (0, 1):
        alone.update({book: values for book, values in by_book(
            e.output for e in gateway_fresh([p], log).run().emitted
            if e.partition == p).items() if book})
    assert alone == {book: values for book, values in want.items() if book}


def test_a_reorgs_copies_put_its_outputs_at_one_position_for_every_owner() -> None:
    """A reorg is copied to every book partition and applied at the first copy an instance
    owns: the window it closed (and its own outputs) landed at a position that depended on
    what the instance owned. An instance owning both partitions committed desk-b's close
    at the copy in partition 0; the next owner of partition 1 alone applied the copy in
    partition 1, past that progress, and committed the close again (helper 37)."""
    reorg = b.rec("reorg", "r1", 0.15, chain="eth", from_block=0)
    stream = [*SETUP, b.quote_opt("q1", 0.05, "P55", 61000, 0.7),  # dirties desk-b
              reorg, b.quote_opt("q2", 0.16, "P55", 61500, 0.7)]
    log = gateway_log(stream)
    onchain = GW_TOPICS.name("onchain")
    seq = stream.index(reorg) + 1
    (first_copy,) = [r for r in log[(onchain, 0)] if r.pos[0] == seq and not r.is_mark]
    assert first_copy.copy
    straight = per_partition(gateway_fresh([0, 1], log).run().outputs())

    both = gateway_fresh([0, 1], log).run(seq - 1)
    snapshots = both.epoch.snapshots()
    for src, start in both.fed.items():  # everything read, applied up to the first copy
        for rec in log[src][start:]:
            both.epoch.push(rec)
        both.fed[src] = len(log[src])
    while (rec := both.epoch.next_record()) is not None:
        if rec.is_mark:
            both.epoch.passed(rec)
        else:
            both.emitted += both.epoch.apply(rec, both.book_topics)
        if rec.pos == first_copy.pos:
            break
    progress = both.epoch.progress(1, {})
    alone = Instance(Epoch.restore(CONFIG, [1], GW_TOPICS.book_topics, GW_MARKET, N_BOOK,
                                   {1: Recovered(progress, snapshots[1], 1)}), log)
    alone.book_topics = frozenset(GW_TOPICS.book_topics)
    alone.run()
    committed = [v for p, v in both.outputs() if p == 1] + [v for p, v in alone.outputs()
                                                           if p == 1]
    assert committed == straight[1]
    assert any(b'"caused_by":"q1"' in v for v in committed)  # the close, once


# hypothesis's falsifying stream (CI, 2026-12-03): the market index x0 repeated with a
# later ts, then a book trade of that later window and index prices 0.4 ms before it
DUPLICATE_AHEAD = [
    b'{"type":"instrument","event_id":"def-C60","ts":"2026-03-01T00:00:00Z","instrument_id":"C60","kind":"option","underlying":"BTC","settlement":"inverse","contract_size":1.0,"expiry":"2026-03-27T08:00:00Z","strike":60000,"option_type":"call"}',
    b'{"type":"instrument","event_id":"def-P55","ts":"2026-03-01T00:00:00Z","instrument_id":"P55","kind":"option","underlying":"BTC","settlement":"inverse","contract_size":1.0,"expiry":"2026-03-27T08:00:00Z","strike":55000,"option_type":"put"}',
    b'{"type":"instrument","event_id":"def-BTC-PERPETUAL","ts":"2026-03-01T00:00:00Z","instrument_id":"BTC-PERPETUAL","kind":"perpetual","underlying":"BTC","settlement":"inverse","contract_size":10.0}',
    b'{"type":"index","event_id":"x0","ts":"2026-03-01T00:00:00Z","underlying":"BTC","price":60000}',
    b'{"type":"quote","event_id":"q-c","ts":"2026-03-01T00:00:00Z","instrument_id":"C60","underlying_price":60000,"mark_iv":0.6}',
    b'{"type":"quote","event_id":"q-p","ts":"2026-03-01T00:00:00Z","instrument_id":"P55","underlying_price":60000,"mark_iv":0.7}',
    b'{"type":"quote","event_id":"q-f","ts":"2026-03-01T00:00:00Z","instrument_id":"BTC-PERPETUAL","mark_price":60000}',
    b'{"type":"trade","event_id":"t-a","ts":"2026-03-01T00:00:00.010Z","book":"desk-a","instrument_id":"C60","side":"buy","quantity":2,"price":1.0}',
    b'{"type":"trade","event_id":"t-b","ts":"2026-03-01T00:00:00.020Z","book":"desk-b","instrument_id":"P55","side":"sell","quantity":3,"price":1.0}',
    b'{"type":"trade","event_id":"t-c","ts":"2026-03-01T00:00:00.030Z","book":"desk-c","instrument_id":"C60","side":"buy","quantity":1,"price":1.0}',
    b'{"type":"index","event_id":"x0","ts":"2026-03-01T00:00:00.200Z","underlying":"BTC","price":50000.0}',
    b'{"type":"trade","event_id":"t1","ts":"2026-03-01T00:00:00.200Z","book":"desk-a","instrument_id":"C60","side":"buy","quantity":1.0,"price":1.0}',
    b'{"type":"index","event_id":"j11","ts":"2026-03-01T00:00:00.199600Z","underlying":"BTC","price":50000.0}',
    b'{"type":"quote","event_id":"q2","ts":"2026-03-01T00:00:00.200Z","instrument_id":"C60","underlying_price":50000.0,"mark_iv":1.0}',
    b'{"type":"quote","event_id":"q3","ts":"2026-03-01T00:00:00.200Z","instrument_id":"C60","underlying_price":50000.0,"mark_iv":1.0}',
    b'{"type":"index","event_id":"j13","ts":"2026-03-01T00:00:00.199600Z","underlying":"BTC","price":50000.0}',
    b'{"type":"quote","event_id":"q4","ts":"2026-03-01T00:00:00.200Z","instrument_id":"C60","underlying_price":50000.0,"mark_iv":1.0}',
    b'{"type":"index","event_id":"j14","ts":"2026-03-01T00:00:00.199600Z","underlying":"BTC","price":50000.0}',
]


def test_a_duplicate_market_record_closes_the_window_it_passes_as_the_gateway_saw() -> None:
    """The gateway took the repeated x0 (200 ms) for a market record of the window ending
    300 ms and gave the trade after it no window tick; the engine ignored x0 as a
    duplicate without closing the window, so each instance's market window stayed at
    100 ms while the trade moved only its book's, and the jittered index at 199.6 ms
    opened a window that the next quote closed: desk-b and desk-c emitted an exposure
    the file replay (where the trade moved every book's window) did not. A duplicate now
    closes the window it passes, as any record does."""
    engine = Engine(CONFIG)
    replayed = [o for i, raw in enumerate(DUPLICATE_AHEAD) for o in engine.handle(raw, f"f:{i}")]
    want = by_book([*replayed, *engine.flush()])
    assert engine.duplicates == 1
    log = gateway_log(DUPLICATE_AHEAD)
    assert by_book(e.output for e in gateway_fresh([0, 1], log).run().emitted) == want
