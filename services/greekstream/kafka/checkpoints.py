"""Checkpoints of book partition p live in partition p of the compacted ``.checkpoints`` topic.

Two keys per partition, both written inside the processor's transactions:

* ``snapshot`` -- every checkpoint interval: the engine state of p's books plus the
  market state, the merge position it was taken at, the next offsets of p's book
  partitions and of every market-data partition;
* ``progress`` -- every transaction: the merge position whose outputs are committed,
  and the offset of the latest snapshot record.

Recovery reads the last ``progress`` record from the tail of the partition and the one
snapshot it names: two small reads, whatever the length of history.

It first waits until no transaction is open on the partition (the read_committed end,
the last stable offset, has reached the log end): right after a commit the markers may
not be written yet, and a killed owner's transaction stays open until its successor
fences it or the broker times it out (Apache Kafka does after ``transaction.timeout.ms``;
Tansu never does). Reading earlier would find an older ``progress`` and produce again
outputs that are about to become visible. The wait warns every 5 s and lasts at most
:func:`open_transaction_limit_s` (the transaction timeout plus a margin): past that the
broker is not ending the transaction, and the read fails with a :class:`KafkaError` that
names the partitions (the processor retries the restore with backoff; it never reads
past an open transaction). A stop request ends it at once, with the same error.

The output partitions are waited for in the same way before they are scanned for outputs
already visible (:func:`await_settled`): a killed owner's transaction can hold outputs and
no ``progress`` yet, and on Tansu those outputs become visible when it is aborted.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from confluent_kafka import Consumer, IsolationLevel, KafkaException, Message, TopicPartition

# re-exported by confluent_kafka.admin without __all__ (its stubs: attr-defined)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from greekstream.errors import KafkaError
from greekstream.kafka.backoff import Backoff
from greekstream.kafka.merge import Position

log = logging.getLogger("greekstream.process")

SNAPSHOT = b"snapshot"
PROGRESS = b"progress"
PART_HEADER = "gs-part"  # on every output: the book partition whose outputs it is
POS_HEADER = "gs-pos"  # on every output: the merge position of the input that caused it
# A snapshot larger than this is written as consecutive chunk records keyed
# ``snapshot/I`` (brokers and librdkafka refuse a record over 1 MB by default:
# message.max.bytes, max.message.bytes; a `market`-sized desk's snapshot is several MB)
CHUNK_BYTES = 512 * 1024
SNAP_HEADER = "gs-snap"  # on every chunk: "N DIGEST", the chunk count and the whole's digest
# how long past the producers' transaction.timeout.ms recovery still waits for the broker
# to end a transaction open on a partition it reads (the abort and its markers take time)
TXN_MARGIN_S = 15.0


def open_transaction_limit_s(transaction_timeout_ms: int) -> float:
    """How long recovery waits for a transaction open on a partition it reads: a broker
    aborts a transaction after its producer's ``transaction.timeout.ms``, so a wait much
    longer than that is a broker that does not (Tansu never does), or a bug."""
    return transaction_timeout_ms / 1000 + TXN_MARGIN_S


def log_end() -> OffsetSpec:
    """What a list_offsets request asks of a partition: its end (the latest offset)."""
    # OffsetSpec.latest has no annotations in confluent-kafka (no-untyped-call)
    spec: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    return spec


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).hexdigest()[:32].encode()


def snapshot_records(value: bytes, chunk_bytes: int = CHUNK_BYTES
                     ) -> list[tuple[bytes, bytes, list[tuple[str, bytes]] | None]]:
    """The (key, value, headers) records of one partition's snapshot, in order: one
    record keyed ``snapshot`` when it fits in ``chunk_bytes``, else N chunks keyed
    ``snapshot/I``, each with N and the whole snapshot's digest in a header. They are
    produced in one transaction to one partition, so their offsets are consecutive and the
    first one's offset names the snapshot. A chunk's key is its index, so compaction keeps
    the latest snapshot's chunks and drops older ones (at most one stale chunk per index
    beyond the latest N)."""
    if len(value) <= chunk_bytes:
        return [(SNAPSHOT, value, None)]
    parts = [value[i:i + chunk_bytes] for i in range(0, len(value), chunk_bytes)]
    header = [(SNAP_HEADER, b"%d %s" % (len(parts), _digest(value)))]
    return [(b"%s/%d" % (SNAPSHOT, i), part, header) for i, part in enumerate(parts)]


def snapshot_chunk(key: bytes | None) -> int | None:
    """The index of a snapshot record from its key (``snapshot``: 0); None for another."""
    if key == SNAPSHOT:
        return 0
    if key is None or not key.startswith(SNAPSHOT + b"/"):
        return None
    tail = key[len(SNAPSHOT) + 1:]
    return int(tail) if tail.isdigit() else None


def _chunk_header(msg: Message) -> tuple[int, bytes] | None:
    """(N, digest) from a chunk's header, or None."""
    value = dict(msg.headers() or ()).get(SNAP_HEADER)
    if not value or not isinstance(value, bytes):  # a consumed header's value is bytes
        return None
    n, _, digest = value.partition(b" ")
    return (int(n), digest) if n.isdigit() and int(n) >= 1 else None


def join_snapshot(msgs: list[Message], offset: int) -> bytes | None:
    """The value of the snapshot whose first record is at ``offset``, from its records
    read in order from there; None when they are not that snapshot, whole."""
    if not msgs or msgs[0].offset() != offset:
        return None
    if msgs[0].key() == SNAPSHOT:
        return msgs[0].value()
    first = _chunk_header(msgs[0])
    if first is None or len(msgs) < first[0]:
        return None
    n = first[0]
    parts: list[bytes] = []
    for i, msg in enumerate(msgs[:n]):
        part = msg.value()
        if part is None or snapshot_chunk(msg.key()) != i or _chunk_header(msg) != first:
            return None
        parts.append(part)
    value = b"".join(parts)
    return value if _digest(value) == first[1] else None  # not chunks of one snapshot


@dataclass(frozen=True)
class Snapshot:
    pos: Position | None
    book_offsets: dict[str, int]  # book topic -> next offset of partition p
    market_offsets: dict[str, int]  # "topic/partition" -> next offset
    books: list[str]
    market_state: bytes  # Engine.snapshot of the market only
    books_state: bytes  # Engine.snapshot of partition p's books only

    def encode(self) -> bytes:
        meta = {
            "pos": self.pos, "book_offsets": self.book_offsets,
            "market_offsets": self.market_offsets, "books": self.books,
        }
        return b"\n".join((orjson.dumps(meta), self.market_state, self.books_state))

    @classmethod
    def decode(cls, value: bytes) -> Snapshot:
        head, market, books = value.split(b"\n", 2)
        meta = orjson.loads(head)
        pos = tuple(meta["pos"]) if meta["pos"] is not None else None
        return cls(pos, meta["book_offsets"], meta["market_offsets"], meta["books"], market,
                   books)


@dataclass(frozen=True)
class Progress:
    pos: Position | None
    snapshot_offset: int | None
    # "topic/partition" -> an offset of every output partition below which no output of
    # a later transaction of this partition's owner can be (the high watermarks read
    # after a commit): where recovery looks for outputs that are visible though their
    # transaction did not commit (a broker that shows aborted records, like Tansu)
    out_floor: dict[str, int] = field(default_factory=dict)

    def encode(self) -> bytes:
        return orjson.dumps({"pos": self.pos, "snapshot_offset": self.snapshot_offset,
                             "out_floor": self.out_floor})

    @classmethod
    def decode(cls, value: bytes) -> Progress:
        doc = orjson.loads(value)
        return cls(tuple(doc["pos"]) if doc["pos"] is not None else None, doc["snapshot_offset"],
                   doc.get("out_floor", {}))


def await_settled(admin: AdminClient, sources: list[tuple[str, int]], limit_s: float,
                  stop: Callable[[], bool] = lambda: False) -> list[tuple[str, int]]:
    """Wait until every transaction open on the sources when called has ended.

    A partition is settled once its last stable offset (the read_committed end) reaches
    the log end read at the start; transactions begun later (a live peer's) are not
    waited for. A killed owner's transaction ends when its restart fences it or when the
    broker times it out (Apache Kafka does; Tansu never does), so ``limit_s`` is the
    transaction timeout plus a margin. A request the broker fails is asked again (the
    partitions count as unsettled meanwhile). ``stop`` is called on every poll. Returns
    the sources not known to be settled when the limit (or ``stop``) ended the wait."""
    if not sources:
        return []

    def ends(isolation: IsolationLevel, which: list[tuple[str, int]]) -> dict[
        tuple[str, int], int
    ]:
        answers = admin.list_offsets({TopicPartition(t, p): log_end() for t, p in which},
                                     isolation_level=isolation, request_timeout=10)
        return {(tp.topic, tp.partition): a.result().offset for tp, a in answers.items()}

    target: dict[tuple[str, int], int] | None = None  # the log ends, once read
    started = time.monotonic()
    warned = 0.0
    backoff = Backoff(0.02, 1.0)
    error = ""
    while True:
        try:
            if target is None:
                target = ends(IsolationLevel.READ_UNCOMMITTED, sources)
            stable = ends(IsolationLevel.READ_COMMITTED, list(target))
            target = {s: end for s, end in target.items() if stable[s] < end}
            error = ""
        except KafkaException as exc:
            if exc.args and exc.args[0].fatal():
                raise KafkaError(f"cannot read the ends of the output partitions: {exc}") from exc
            error = str(exc)
        waited = time.monotonic() - started
        left = sorted(sources if target is None else target)
        if not left or waited >= limit_s or stop():
            return left
        if waited - warned >= 5.0:
            warned = waited
            open_on = [f"{t}/{p}" for t, p in left]
            log.warning("outputs: waiting for the open transaction on %s%s", open_on,
                        f" ({error})" if error else "",
                        extra={"event": "output_wait", "partitions": open_on,
                               "seconds": round(waited, 1)})
        time.sleep(backoff.next())


@dataclass(frozen=True)
class Recovered:
    progress: Progress | None
    snapshot: Snapshot | None
    records_read: int
    # outputs of this partition already visible past its progress: position -> values
    visible: dict[Position, Counter[tuple[str, bytes]]] = field(default_factory=dict)


def scan_starts(recovered: dict[int, Recovered], outputs: list[tuple[str, int]],
                ) -> dict[tuple[str, int], int]:
    """Where recovery looks for outputs visible past the partitions' progress: per output
    partition, the lowest floor their progress records carry (0 if one has none)."""
    starts: dict[tuple[str, int], int] = {}
    for src in outputs:
        floors = [r.progress.out_floor.get(f"{src[0]}/{src[1]}") if r.progress else None
                  for r in recovered.values()]
        starts[src] = 0 if any(f is None for f in floors) else min(
            f for f in floors if f is not None)
    return starts


class CheckpointReader:
    """Reads the latest committed checkpoint of partitions (read_committed), all at once."""

    def __init__(self, conf: dict[str, Any], topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer({
            **conf, "group.id": f"{conf.get('client.id', 'greekstream')}-checkpoint-reader",
            "enable.auto.commit": False, "enable.partition.eof": True,
            "isolation.level": "read_committed", "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 10,
        })
        self.uncommitted = Consumer({
            **conf, "group.id": f"{conf.get('client.id', 'greekstream')}-checkpoint-reader",
            "enable.auto.commit": False, "isolation.level": "read_uncommitted",
        })

    def close(self) -> None:
        self.consumer.close()
        self.uncommitted.close()

    def _stable_bounds(self, partitions: list[int], timeout_s: float,
                       transaction_timeout_ms: int, stop: Callable[[], bool]
                       ) -> dict[int, tuple[int, int]]:
        """(low, end) of each partition once no transaction is open on it; a transaction
        still open after :func:`open_transaction_limit_s`, or ``stop()`` (called on every
        poll while one is open) true, is a :class:`KafkaError` (the partitions are never
        read while one is open)."""
        limit_s = open_transaction_limit_s(transaction_timeout_ms)
        bounds: dict[int, tuple[int, int]] = {}
        waiting_since = time.monotonic()
        warned = 0.0
        backoff = Backoff(0.01, 0.5)
        while True:
            open_on = []
            for p in partitions:
                if p in bounds:
                    continue
                tp = TopicPartition(self.topic, p)
                try:
                    low, stable = self.consumer.get_watermark_offsets(tp, timeout=timeout_s)
                    _, end = self.uncommitted.get_watermark_offsets(tp, timeout=timeout_s)
                except KafkaException as exc:
                    raise KafkaError(f"cannot read checkpoints of partition {p}: {exc}") from exc
                if stable >= end:
                    bounds[p] = (low, stable)
                else:
                    open_on.append(p)
            if not open_on:
                return bounds
            waited = time.monotonic() - waiting_since
            if stop():
                raise KafkaError(f"stopped while waiting for the open transaction on "
                                 f"checkpoint partitions {open_on} of {self.topic}")
            if waited >= limit_s:
                raise KafkaError(
                    f"checkpoint partitions {open_on} of {self.topic}: a transaction has been "
                    f"open on them for {waited:.0f} s, past the producers' transaction "
                    f"timeout (transaction_timeout_ms {transaction_timeout_ms}) plus a "
                    f"{TXN_MARGIN_S:g} s margin; checkpoints are not read while it is open. "
                    f"A broker aborts a transaction after that timeout: check the broker (its "
                    f"transaction coordinator and logs); a producer with the same "
                    f"transactional id, most likely the instance that owned these partitions "
                    f"before, may be stuck or killed: restart it (its restart fences the "
                    f"transaction; on Tansu, which never times transactions out, only that "
                    f"ends it)")
            if waited - warned >= 5.0:
                warned = waited
                log.warning("checkpoints: waiting for the open transaction on partitions %s",
                            open_on, extra={"event": "checkpoint_wait", "partitions": open_on,
                                            "seconds": round(waited, 1)})
            time.sleep(backoff.next())

    def latest_many(self, partitions: list[int], timeout_s: float = 30.0, *,
                    transaction_timeout_ms: int, stop: Callable[[], bool] = lambda: False
                    ) -> dict[int, Recovered]:
        """The last ``progress`` of each partition, read backwards from the tail in
        growing steps, and the snapshot it names: a few records per partition. Read once
        no transaction is open on them, waited for at most
        :func:`open_transaction_limit_s` of ``transaction_timeout_ms`` (the producers'
        ``transaction.timeout.ms``) and until ``stop()``, called on every poll of the
        wait (past either, a :class:`KafkaError`); ``timeout_s`` bounds each request and
        read."""
        bounds = self._stable_bounds(partitions, timeout_s, transaction_timeout_ms, stop)
        found: dict[int, Progress] = {}
        read = dict.fromkeys(partitions, 0)
        todo = [p for p in partitions if bounds[p][1] > bounds[p][0]]
        step = 16
        while todo:
            starts = {p: max(bounds[p][0], bounds[p][1] - step) for p in todo}
            for p, msgs in self._read(starts, timeout_s, first_only=False).items():
                read[p] += len(msgs)
                for msg in msgs:
                    if msg.key() == PROGRESS:  # without a value: no JSON, an error as before
                        found[p] = Progress.decode(msg.value() or b"")
            todo = [p for p in todo if p not in found and starts[p] > bounds[p][0]]
            step *= 8
        at = {p: f.snapshot_offset for p, f in found.items() if f.snapshot_offset is not None}
        snaps: dict[int, Snapshot] = {}
        for p, msgs in self._read(at, timeout_s, first_only=False, until=_last_chunk).items():
            value = join_snapshot(msgs, at[p])
            if value is None:
                raise KafkaError(f"checkpoint partition {p}: no whole snapshot at offset "
                                 f"{at[p]}")
            snaps[p] = Snapshot.decode(value)
            read[p] += len(msgs)
        return {p: Recovered(found.get(p), snaps.get(p), read[p]) for p in partitions}

    def with_visible(self, recovered: dict[int, Recovered], outputs: list[tuple[str, int]],
                     timeout_s: float = 30.0) -> dict[int, Recovered]:
        """Add to each partition the outputs a reader sees past its committed progress.

        On Apache Kafka these are none (an aborted transaction's records are hidden from
        read_committed readers). Tansu shows them: the outputs of a transaction that a
        SIGKILL cut short stay visible, and recovery must not produce them again."""
        if not recovered:  # no partition of ours (more instances than partitions)
            return recovered
        wanted = {str(p).encode(): p for p in recovered}
        starts = scan_starts(recovered, outputs)
        found: dict[int, dict[Position, Counter[tuple[str, bytes]]]] = {p: {} for p in recovered}
        for msg in self._scan(starts, timeout_s):
            part = pos = None
            headers = msg.headers()  # a consumed record's: a list of (key, value) pairs, or None
            for k, v in headers if isinstance(headers, list) else ():
                if k == PART_HEADER:
                    part = wanted.get(v) if isinstance(v, bytes) else None
                elif k == POS_HEADER:
                    pos = tuple(orjson.loads(v or b""))  # without a value: an error as before
            if part is None or pos is None:
                continue
            progress = recovered[part].progress
            if progress is not None and progress.pos is not None and pos <= progress.pos:
                continue
            seen = found[part].setdefault(pos, Counter())
            topic, value = msg.topic(), msg.value()
            if topic is not None and value is not None:  # an output greekstream wrote has both
                seen[(topic, value)] += 1
        return {p: replace(r, visible=found[p]) for p, r in recovered.items()}

    def _scan(self, starts: dict[tuple[str, int], int], timeout_s: float) -> list[Message]:
        """Every committed-visible record of the sources from their start to their end."""
        return list(self._until_end(starts, timeout_s, "outputs"))

    def _read(self, starts: dict[int, int], timeout_s: float, first_only: bool,
              until: Callable[[Message], bool] | None = None) -> dict[int, list[Message]]:
        """Records of each partition from its start offset to its end (or the first one,
        or the first for which ``until`` is true)."""
        out: dict[int, list[Message]] = {p: [] for p in starts}
        for msg in self._until_end({(self.topic, p): o for p, o in starts.items()}, timeout_s,
                                   "checkpoints", first_only, until):
            p = msg.partition()
            assert p is not None  # a record of one of the partitions asked for
            out[p].append(msg)
        return out

    def _until_end(self, starts: dict[tuple[str, int], int], timeout_s: float, what: str,
                   first_only: bool = False, until: Callable[[Message], bool] | None = None
                   ) -> Iterator[Message]:
        """The records of each (topic, partition) from its start offset until its end (or
        its first record, or the first ``until`` accepts), read_committed; ``timeout_s`` of
        empty polls in all is an error."""
        if not starts:
            return
        self.consumer.assign([TopicPartition(t, p, o) for (t, p), o in starts.items()])
        left, idle = set(starts), timeout_s
        try:
            while left:
                msg = self.consumer.poll(0.2)
                if msg is None:
                    idle -= 0.2
                    if idle <= 0:
                        raise KafkaError(f"timed out reading {what} of {sorted(left)}")
                    continue
                source, err = (msg.topic(), msg.partition()), msg.error()
                if err is not None:
                    if err.code() == err._PARTITION_EOF:
                        left.discard(source)
                    elif not err.retriable():
                        raise KafkaError(f"cannot read {what}: {err}")
                    continue
                if source not in left:
                    continue
                yield msg
                if first_only or (until is not None and until(msg)):
                    left.discard(source)
        finally:
            self.consumer.unassign()


def _last_chunk(msg: Message) -> bool:
    """A snapshot ends at its last chunk (or at any other record: join_snapshot judges)."""
    if msg.key() == SNAPSHOT:
        return True
    chunk, header = snapshot_chunk(msg.key()), _chunk_header(msg)
    return chunk is None or header is None or chunk >= header[0] - 1
