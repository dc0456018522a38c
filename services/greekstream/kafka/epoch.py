"""The state of one processor between two rebalances: an engine over the owned book
partitions, the ``gs-seq`` merge feeding it, and what each partition has committed.

Restoring: every owned partition's latest checkpoint is read. The engine starts from
the earliest one (its market state), market data is re-read from there, and the books
of each later checkpoint are loaded when the merge passes that checkpoint's position,
so every book continues exactly where its checkpoint left it. Outputs at or before a
partition's committed ``progress`` position were committed by the previous owner and
are not produced again.

The engine runs with ``windows_per_book``: an emission window closes for a book at the
first record past it that the book's owner sees (a market record or one of the book's
own), so each key's close is produced at the same record whichever instances own which
partitions, and a partition's progress tells whether it was (docs/streaming.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from confluent_kafka import OFFSET_BEGINNING

from greekstream.core.engine import Engine, EngineConfig, Output
from greekstream.kafka.checkpoints import Progress, Recovered, Snapshot
from greekstream.kafka.merge import Position, Record, SeqMerge, Source

_START: Position = (-1, -1, -1, -1)


def at_position(rec: Record) -> Position:
    """Where a record's outputs are, for a partition's progress: its merge position, but
    one for all the copies of a record the gateway publishes to every partition (a reorg):
    an instance applies the copy in the first partition it owns (the others are
    duplicates), and that copy's position depends on what it owns; every copy's outputs
    sit just before the first copy, (seq, rank, -1, -1), on every instance."""
    if rec.copy:
        return (rec.pos[0], rec.pos[1], -1, -1)
    return rec.pos


@dataclass
class Emitted:
    output: Output
    key: bytes | None
    quote_ts_ms: int | None
    partition: int  # the book partition whose output it is
    pos: Position  # the merge position of the input that caused it


@dataclass
class Epoch:
    engine: Engine
    owned: list[int]
    book_topics: list[str]
    market_sources: list[Source]
    n_book: int
    merge: SeqMerge
    next_offsets: dict[Source, int]
    suppress: dict[int, Position | None]
    pending: list[tuple[Position, int, Snapshot]]
    book_partition: dict[str, int] = field(default_factory=dict)
    pos: Position | None = None
    snap_offset: dict[int, int | None] = field(default_factory=dict)
    released: int = 0
    restore_records: int = 0
    caught_up_said: bool = False  # newly_caught_up() has returned True once
    # outputs already visible past a partition's progress (a broker that shows aborted
    # transactions): partition -> position -> (topic, value) -> count, consumed on match
    visible: dict[int, dict[Position, Counter[tuple[str, bytes]]]] = field(
        default_factory=dict)

    @classmethod
    def restore(
        cls, config: EngineConfig, owned: list[int], book_topics: list[str],
        market_sources: list[Source], n_book: int, recovered: dict[int, Recovered],
    ) -> Epoch:
        snaps = {p: r.snapshot for p, r in recovered.items() if r.snapshot is not None}
        pending = sorted(((s.pos or _START), p, s) for p, s in snaps.items())
        market: dict[Source, int] = dict.fromkeys(market_sources, OFFSET_BEGINNING)
        # every owned partition has a snapshot: the engine starts from the earliest one's
        # market state and re-reads market data from there (else from the beginning)
        from_snapshot = bool(pending) and len(snaps) == len(owned)
        if from_snapshot:
            first = pending[0][2]
            for src in market_sources:
                market[src] = first.market_offsets.get(f"{src[0]}/{src[1]}", OFFSET_BEGINNING)
        books: dict[Source, int] = {}
        for p in owned:
            snap = snaps.get(p)
            for t in book_topics:
                books[(t, p)] = (snap.book_offsets.get(t, OFFSET_BEGINNING) if snap
                                 else OFFSET_BEGINNING)
        sources = [*market_sources, *books]
        # the seq up to which each source is complete when read from its start offset
        from_first = pending[0][0][0] if from_snapshot else -1
        watermarks = dict.fromkeys(market_sources, from_first)
        for p, snap in snaps.items():
            watermarks.update(dict.fromkeys(((t, p) for t in book_topics),
                                            snap.pos[0] if snap.pos else -1))
        epoch = cls(
            engine=Engine(replace(config, windows_per_book=True)), owned=owned,
            book_topics=book_topics,
            market_sources=market_sources, n_book=n_book,
            merge=SeqMerge(sources, watermarks),
            next_offsets={**market, **books},
            suppress={p: (r.progress.pos if r.progress else None) for p, r in recovered.items()},
            pending=pending,
            snap_offset={p: (r.progress.snapshot_offset if r.progress else None)
                         for p, r in recovered.items()},
            restore_records=sum(r.records_read for r in recovered.values()),
            visible={p: dict(r.visible) for p, r in recovered.items() if r.visible},
        )
        if from_snapshot:
            _, p, first = epoch.pending.pop(0)
            epoch.engine.restore(first.market_state)
            epoch._load(p, first)
            epoch.pos = first.pos
        return epoch

    # ------------------------------------------------------------------ reading

    def reads(self, src: Source) -> bool:
        """False for a source this epoch does not read (a record fetched before a rebalance)."""
        return src in self.merge.buffers

    def push(self, rec: Record) -> None:
        """Hand a consumed record of a source it :meth:`reads` to the merge."""
        self.merge.push((rec.topic, rec.partition), rec)

    def next_record(self) -> Record | None:
        """The next record in ``gs-seq`` order, or None until every source can tell."""
        return self.merge.pop()

    @property
    def buffered(self) -> int:
        """Records consumed and not yet released."""
        return self.merge.buffered

    # ------------------------------------------------------------------ applying

    def apply(self, rec: Record, book_sources: frozenset[str]) -> list[Emitted]:
        """Apply one released record; returns the outputs this instance must produce."""
        while self.pending and self.pending[0][0] < rec.pos:
            self._load(*self.pending.pop(0)[1:])
        in_book_topic = rec.topic in book_sources
        if in_book_topic and rec.key is not None:
            self.book_partition[rec.key.decode("utf-8", "replace")] = rec.partition
        outputs = self.engine.handle(rec.value, f"{rec.topic}/{rec.partition}/{rec.offset}")
        self.pos = rec.pos
        self.next_offsets[(rec.topic, rec.partition)] = rec.offset + 1
        self.released += 1
        if not outputs:
            return []
        owner = rec.partition if in_book_topic else rec.partition % self.n_book
        quote_ts = rec.timestamp_ms if rec.topic.endswith(".quotes") else None
        at = at_position(rec)
        emitted = []
        for out in outputs:
            book = getattr(out, "book", None)
            p = owner if book is None else self.book_partition.get(book, owner)
            if p not in self.suppress:
                continue  # not ours (a market-data rejection another instance reports)
            done = self.suppress[p]
            if done is not None and at <= done:
                continue  # committed by this partition's previous owner
            key = book.encode() if book is not None else rec.key
            emitted.append(Emitted(out, key, quote_ts, p, at))
        return emitted

    def poison(self, rec: Record, exc: Exception) -> list[Emitted]:
        """A record the runtime failed on (not the engine: it never raises): passed, and
        reported as ``internal_error`` by its partition's owner, so the loop goes on."""
        self.pos = rec.pos
        self.next_offsets[(rec.topic, rec.partition)] = rec.offset + 1
        self.released += 1
        owner = rec.partition % self.n_book
        done = self.suppress.get(owner, _START)
        at = at_position(rec)
        if owner not in self.suppress or (done is not None and at <= done):
            return []
        raw = (rec.value or b"").decode("utf-8", "replace")
        out = self.engine._rejected("internal_error", f"{exc.__class__.__name__}: {exc}"[:1000],
                                    f"{rec.topic}/{rec.partition}/{rec.offset}", raw, None)
        return [Emitted(out, rec.key, None, owner, at)]

    def already_visible(self, e: Emitted, topic: str, value: bytes) -> bool:
        """True (once per copy) if this output is already visible past the partition's
        progress: produced by a transaction that did not commit but shows anyway."""
        by_pos = self.visible.get(e.partition)
        if not by_pos:
            return False
        seen = by_pos.get(e.pos)
        if not seen or not seen[(topic, value)]:
            return False
        seen[(topic, value)] -= 1
        return True

    def caught_up(self) -> bool:
        """Every owned partition is past the position its previous owner committed, or
        its checkpoint, still waiting to be loaded, is at or past that position (its
        books are loaded before any later record; when no record comes, the merge never
        passes it, and the partition has nothing left to re-apply)."""
        waiting = {p: pos for pos, p, _snap in self.pending}
        return all(done is None or (self.pos is not None and self.pos >= done)
                   or (p in waiting and waiting[p] >= done)
                   for p, done in self.suppress.items())

    def newly_caught_up(self) -> bool:
        """True once: the first time :meth:`caught_up` holds in this epoch."""
        if self.caught_up_said or not self.caught_up():
            return False
        self.caught_up_said = True
        return True

    def passed(self, mark: Record) -> None:
        """A gateway mark left the merge: the partition is read past it."""
        while self.pending and self.pending[0][0] < mark.pos:
            self._load(*self.pending.pop(0)[1:])
        self.pos = mark.pos
        self.next_offsets[(mark.topic, mark.partition)] = mark.offset + 1

    def _load(self, partition: int, snap: Snapshot) -> None:
        self.engine.restore(snap.books_state)
        for book in snap.books:
            self.book_partition[book] = partition

    # ------------------------------------------------------------------ checkpoints

    def snapshots(self) -> dict[int, Snapshot]:
        market_state = self.engine.snapshot(lambda _b: False, market=True)
        market = {f"{t}/{p}": self.next_offsets[(t, p)] for t, p in self.market_sources}
        out = {p: snap for _pos, p, snap in self.pending}  # not reached yet: unchanged
        for p in self.owned:
            if p in out:
                continue
            books = sorted(b for b, q in self.book_partition.items() if q == p)
            # the partition's books, and the hash chains of its records that have no book
            names = set(books) | {f"{t}/{p}" for t in self.book_topics}
            out[p] = Snapshot(
                pos=self.pos,
                book_offsets={t: self.next_offsets[(t, p)] for t in self.book_topics},
                market_offsets=market, books=books, market_state=market_state,
                books_state=self.engine.snapshot(names.__contains__, market=False),
            )
        return out

    def committed_position(self, partition: int) -> Position | None:
        """Where partition's outputs are committed once this transaction commits: ours up
        to ``pos``, the previous owner's up to its ``progress``, which may be later (a
        snapshot still pending): never move it back, or a restart would produce again."""
        done = self.suppress.get(partition)
        if done is None or (self.pos is not None and self.pos > done):
            return self.pos
        return done

    def snapshots_written(self, offsets: dict[int, int]) -> None:
        """The checkpoint-topic offset of each partition's new snapshot, for its progress."""
        self.snap_offset.update(offsets)

    def progress(self, partition: int, out_floor: dict[str, int]) -> Progress:
        """The partition's progress record for the transaction being committed."""
        return Progress(self.committed_position(partition), self.snap_offset.get(partition),
                        out_floor)

    def committed_offsets(self) -> list[tuple[str, int, int]]:
        return [
            (t, p, self.next_offsets[(t, p)])
            for p in self.owned for t in self.book_topics if self.next_offsets[(t, p)] >= 0
        ]


