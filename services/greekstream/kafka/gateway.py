"""The gateway: validate each line of an events file and publish it to its topic.

Every record carries a ``gs-seq`` header (a file's line number; a live input's running
count, ticks included) that the processor merges on, so it sees the input's order across
topics and partitions (docs/streaming.md).
Every few milliseconds (and every ``mark_every`` records, and at the end) the gateway
writes a *mark* into every partition of every input topic: an empty record keyed
``gs-mark`` whose ``gs-seq`` says that every record up to that seq is already before
it in that partition. Marks are what let the processor release a record while another
partition is empty (greekstream.kafka.merge); consumers of the inputs skip them.
Invalid lines go to ``.rejected`` as ``rejected`` events; an unknown instrument is
state, so only the processor can reject it.

At the end of its input the gateway is idle for good: it publishes one ``tick`` (contract part 2,
*Emission in event-time windows*) at the last event time + ``idle_tick_ms``, so the
processors close their open emission window as a file replay does at its end. A live
input (:meth:`Gateway.publish_live`, `greekstream produce -`) is also idle between its
lines: once no line has come for ``idle_tick_ms`` of wall time, it publishes one tick at
the last event time + the wall time since that event came, and a mark, so a quiet market's
last window closes without waiting for its next record.

A book record reaches only the processors that own its book, so a window it closes in a
file replay would close later, at the next market record, on the others (each closes it
per book, docs/streaming.md). So before a book record whose ts is past the window of the
largest event time published, the gateway publishes a ``tick`` at that ts on the index
topic with the same ``gs-seq`` (the merge puts a market topic first): every processor
closes the window there, as a file replay does at the book record. Its id starts with
``gs-window-``: the engine lets it close the window and nothing else (no intent expires at
it), so it is the book record's window crossing and no more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaException, Producer

from greekstream.core import guards
from greekstream.core.decode import decode_event
from greekstream.core.engine import output_id
from greekstream.core.events import (
    BOOK_TYPES,
    END_TICK,
    WINDOW_TICK,
    DecodeError,
    Rejected,
    encode,
)
from greekstream.core.guards import clip_detail, clip_raw
from greekstream.core.timeutil import format_ts
from greekstream.errors import KafkaError, UsageError
from greekstream.kafka.topics import ROUTES, Topics, partition_counts
from greekstream.runtime.progress import Progress

SEQ_HEADER = "gs-seq"
# on each copy of a record published to every partition (a reorg): the processor gives
# all copies one merge position, whichever it applies (kafka/epoch.py)
COPY_HEADER = "gs-copy"
MARK_KEY = b"gs-mark"  # the key of a mark (a key, so compacted topics accept it)


# A live input's records may be dated at most this far past the wall clock (seconds;
# `greekstream produce - --max-ahead`, 0 = no limit), as Kafka brokers bound a record's
# timestamp (message.timestamp.after.max.ms, 1 hour): a feed dated ahead would hold the
# processors' emission windows open and make the records after it late. A file is history:
# only the engine's bound on the market's clock applies (core/guards.py, ts_ahead).
LIVE_MAX_AHEAD_S = 3600.0


def is_mark(key: bytes | None, value: bytes | None) -> bool:
    return key == MARK_KEY and not value


class LineSource(Protocol):
    """A live input (runtime/live_lines.py ``LiveLines``): complete lines as they come."""

    eof: bool

    def read(self, timeout_s: float) -> list[tuple[bytes, str]]: ...


@dataclass
class GatewayReport:
    published: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    marks: int = 0
    ticks: int = 0
    delivery_errors: list[str] = field(default_factory=list)  # the first ten
    undelivered: int = 0  # records whose delivery failed
    first_seq: int | None = None  # the gs-seq of the first record published (None: none)


class Gateway:
    LIVE_WAIT_S = 0.25  # a live input's longest wait: delivery callbacks, a stop request
    FLUSH_S = 60.0  # the longest wait for the broker to take what is queued

    def __init__(self, conf: dict[str, Any], topics: Topics, linger_ms: int = 5,
                 mark_every: int = 1000, mark_interval_ms: float = 5.0,
                 idle_tick_ms: int = 100, max_ts_ahead_s: float = guards.MAX_TS_AHEAD_S,
                 live_max_ahead_s: float = LIVE_MAX_AHEAD_S,
                 *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 producer: Any = None, partitions: dict[str, int] | None = None) -> None:
        """``clock`` (monotonic seconds), ``wall`` (the epoch in seconds: how far ahead a
        live record is dated), ``producer`` and ``partitions`` (per input topic, else asked
        of the broker) are for tests without a broker."""
        self.topics = topics
        self.idle_tick_ms = idle_tick_ms
        self.last_ts: int | None = None  # the largest event time published
        # the processors' max_ts_ahead_s and market clock (the largest ts of a market
        # record published): a book record the engine rejects as ts_ahead opens no window
        self.ahead_us = guards.ahead_limit_us(max_ts_ahead_s)
        self.market_ts: int | None = None
        self.live_ahead_s = live_max_ahead_s
        self.live_ahead_us = guards.ahead_limit_us(live_max_ahead_s)  # (once, not per line)
        self.wall = wall
        self.mark_every = mark_every
        self.mark_interval_s = mark_interval_ms / 1000
        self.last_seq = -1
        self.marked_seq = -1
        self.clock = clock
        self.marked_at = clock()
        self.report = GatewayReport()
        self.producer = producer if producer is not None else Producer({
            **conf,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
            "partitioner": "murmur2_random",  # the same partition for a key as Java clients
            "queue.buffering.max.messages": 1_000_000,
        })
        inputs = sorted({topics.name(suffix) for suffix, _ in ROUTES.values()})
        counts = partitions if partitions is not None else partition_counts(conf, inputs)
        missing = [t for t in inputs if not counts[t]]
        if missing:
            raise KafkaError(
                f"topics do not exist: {', '.join(missing)}",
                hint="create the topics first: greekstream topics create --bootstrap HOST:PORT",
            )
        self.onchain_partitions = counts[topics.name("onchain")]
        self.input_partitions = [(t, p) for t in inputs for p in range(counts[t])]

    def publish(self, records: Iterable[tuple[int, bytes, str]], progress: Progress) -> None:
        """Publish (seq, raw line, "FILE:LINE") records in order, mark, wait for delivery."""
        for seq, raw, source in records:
            self.publish_one(seq, raw, source)
            progress.advance()
        self.idle(end=True)
        self.mark()
        self.flush()
        progress.done()

    def publish_live(self, lines: LineSource, progress: Progress, first_seq: int,
                     stop: Callable[[], bool] = lambda: False) -> None:
        """Publish a live input's lines as they come, with gs-seq ``first_seq``, + 1, ...
        for lines and ticks alike (docs/streaming.md, *Live input*). When no line has come
        for ``idle_tick_ms`` of wall time (0: never), one tick for that idle spell at the
        last event time + the wall time since that event came, and a mark at once; the
        next tick waits for a new event. Records the input has stopped sending are marked
        within the mark interval. At the end of the input the end-of-input tick, as a file;
        ``stop()`` true (a signal) ends without it. Then mark and wait for delivery."""
        self.last_seq = self.marked_seq = first_seq - 1
        idle_s = self.idle_tick_ms / 1000
        heard = event_at = self.clock()  # the last line, the last event published
        tick_due = False  # an event came since the last tick
        while not stop():
            now = self.clock()
            wait = self.LIVE_WAIT_S
            if self.last_seq > self.marked_seq:
                wait = min(wait, self.marked_at + self.mark_interval_s - now)
            if tick_due:
                wait = min(wait, heard + idle_s - now)
            try:
                batch = lines.read(max(wait, 0.0))
            except OSError as exc:  # a descriptor closed under us, a terminal hung up
                self.mark()
                self.flush()
                raise UsageError(
                    f"cannot read the input: {exc.strerror or exc}",
                    hint="what came before is published; restart the gateway with "
                         f"--first-seq {self.last_seq + 1}") from exc
            now = self.clock()
            for raw, source in batch:
                events = self.report.published
                self.publish_one(self.last_seq + 1, raw, source, live=True)
                progress.advance()
                if self.report.published > events:  # an event, not a rejected line
                    event_at, tick_due = now, idle_s > 0
            if batch:
                heard = now
            if lines.eof:
                break
            if self.last_seq > self.marked_seq and now - self.marked_at >= self.mark_interval_s:
                self.mark()  # the input paused: what it sent is released at once
            if tick_due and now - heard >= idle_s:
                self.idle(max(round((now - event_at) * 1e6), self.idle_tick_ms * 1000))
                self.mark()
                tick_due = False
            self.producer.poll(0)  # delivery callbacks
            if self.report.delivery_errors:
                # the records queued behind the failed ones are lines read from the input:
                # marked and delivered before the process ends, which would drop them
                self.mark()
                left = self.producer.flush(self.FLUSH_S)
                raise KafkaError(
                    self._undelivered(left),
                    hint="check that the broker is reachable and the topics exist, then "
                         f"restart the gateway with --first-seq {self.last_seq + 1}")
            progress.refresh()
        if lines.eof:
            self.idle(end=True)
        self.mark()
        self.flush()
        progress.done()

    def publish_one(self, seq: int, raw: bytes, source: str, live: bool = False) -> None:
        """One record; seqs must increase from call to call (and across runs of a stream).
        A ``live`` one dated more than ``live_max_ahead_s`` past the wall clock is rejected
        (``ts_ahead``)."""
        self._publish_one(seq, raw, source, live)
        self.last_seq = seq
        if (seq - self.marked_seq >= self.mark_every
                or self.clock() - self.marked_at >= self.mark_interval_s):
            self.mark()

    def idle(self, idle_us: int | None = None, end: bool = False) -> None:
        """The input went quiet: a `tick` at the last event time + ``idle_us`` (default
        ``idle_tick_ms``; after the last record, in gs-seq order) closes the processors'
        open window. At the ``end`` of the input it stands for a file replay's end, which
        closes the window and nothing else: a window tick (``gs-window-end-<seq>``; no
        intent expires at it). An idle spell's (``gs-tick-<seq>``) is event time passing."""
        if self.last_ts is None or self.idle_tick_ms <= 0:
            return
        seq = self.last_seq + 1
        ts = self.last_ts + (self.idle_tick_ms * 1000 if idle_us is None else idle_us)
        ts = min(ts, guards.MAX_TS_US)  # (an input ending at the accepted range's end)
        prefix = (END_TICK + "-" if end else "gs-tick-").encode()
        raw = b'{"type":"tick","event_id":"%s%d","ts":"%s"}' % (prefix, seq,
                                                                  format_ts(ts).encode())
        last_ts = self.last_ts
        self._publish_one(seq, raw, "gateway:idle")
        self.last_ts = last_ts  # the input's: the next tick counts from its events, not this
        self.last_seq = seq
        self.report.published -= 1  # not a line of the input
        self.report.ticks += 1

    def mark(self) -> None:
        """Tell every input partition that all records up to the last seq are written."""
        self.marked_at = self.clock()
        if self.last_seq <= self.marked_seq:
            return
        headers = [(SEQ_HEADER, str(self.last_seq).encode())]
        for topic, partition in self.input_partitions:
            self._produce(topic, b"", MARK_KEY, headers, partition)
        self.marked_seq = self.last_seq
        self.report.marks += 1

    def _publish_one(self, seq: int, raw: bytes, source: str, live: bool = False) -> None:
        if self.report.first_seq is None:
            self.report.first_seq = seq
        headers = [(SEQ_HEADER, str(seq).encode())]
        try:
            event = decode_event(raw)
            if live and self.live_ahead_us:
                self._check_live_ts(event.ts)
        except DecodeError as exc:
            self._reject(exc, raw, source, headers)
            return
        book = event.type in BOOK_TYPES
        # (a window tick stands for a book record or the end of the input: it moves no
        # market clock in the processors, and one dated ahead moves no clock at all)
        window = event.type == "tick" and event.event_id.startswith(WINDOW_TICK)
        if self._applies(event, book or window):  # else the engine rejects it: no clock
            if book:
                self._window_tick(event, seq, headers)
            self._passed(event.ts, market=not book and not window)
        suffix_key = ROUTES[event.type][1]
        key = str(getattr(event, suffix_key)).encode()
        topic = self.topics.for_input(event.type)
        if event.type == "reorg":  # every book partition's owner must see it: a copy each
            copied = [*headers, (COPY_HEADER, b"1")]
            for partition in range(self.onchain_partitions):
                self._produce(topic, raw, key, copied, partition)
        else:
            self._produce(topic, raw, key, headers)
        self.report.published += 1

    def _check_live_ts(self, ts: int) -> None:
        """A live record dated more than ``live_max_ahead_s`` past the wall clock is
        rejected. A ts past the accepted range is named by that range's end: one past
        year 9999 cannot be formatted (the detail raised, which stopped the gateway)."""
        now = round(self.wall() * 1e6)
        if ts - now > self.live_ahead_us:
            when = format_ts(ts) if ts <= guards.MAX_TS_US else (
                f"past {format_ts(guards.MAX_TS_US)}")
            raise DecodeError(
                "ts_ahead",
                f"ts {when} is {(ts - now) / 3.6e9:,.2f} h past this gateway's wall "
                f"clock {format_ts(now)}, more than --max-ahead ({self.live_ahead_s:g} s): a "
                "live record dated ahead would hold the processors' emission windows and make "
                "the records after it late; fix the producer's clock or the record, or pass "
                "--max-ahead 0 if the feed is dated ahead on purpose", ts)

    def _applies(self, event: Any, book: bool) -> bool:
        """Whether the engine's door lets ``event`` in: its range checks, and a ``book``
        record (or a window tick) not dated more than max_ts_ahead_s past the market
        (core/guards.py). One
        that a handler rejects (a trade of an unknown instrument, a quote of an instrument
        not defined) or ignores (a duplicate) cannot be told here (docs/streaming.md)."""
        try:
            guards.check_event(event)
        except guards.GuardError:
            return False
        return not (book and guards.too_far_ahead(event.ts, self.market_ts, self.ahead_us))

    def _passed(self, ts: int, market: bool) -> None:
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        if market and (self.market_ts is None or ts > self.market_ts):
            self.market_ts = ts

    def _window_tick(self, event: Any, seq: int, headers: list[Any]) -> None:
        """Before a book record: a tick at its ts with its gs-seq if that ts is past the
        window (``idle_tick_ms``, the processors' emit_interval_ms) of the largest event
        time published, or it is the first event (module docstring). Not before a record
        the engine's door rejects (:meth:`_applies`: it closes no window in a file replay
        either)."""
        window_us = self.idle_tick_ms * 1000
        ts = event.ts
        if window_us <= 0:
            return
        if self.last_ts is not None and ts < (self.last_ts // window_us + 1) * window_us:
            return
        event_id = b"%s%d" % (WINDOW_TICK.encode(), seq)
        raw = b'{"type":"tick","event_id":"%s","ts":"%s"}' % (event_id, format_ts(ts).encode())
        self._produce(self.topics.for_input("tick"), raw, event_id, headers)
        self._passed(ts, market=False)  # it stands for the book record: no market clock
        self.report.ticks += 1

    def _reject(self, exc: DecodeError, raw: bytes, source: str, headers: list[Any]) -> None:
        """The rejection carries the line's ts only inside the accepted range, as the
        engine's (``Engine._rejected``): one past year 9999 (``...T23:59:59-23:59``)
        cannot be encoded, and raised out of the gateway at that line on every run."""
        text = raw.decode("utf-8", errors="replace")
        ts = exc.ts if guards.ts_in_range(exc.ts) else None
        rejected = Rejected(
            event_id=output_id("rejected", source, text), ts=ts, reason=exc.reason,
            detail=clip_detail(exc.detail), source=source, raw=clip_raw(text),
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
        if err is not None:
            self.report.undelivered += 1
            if len(self.report.delivery_errors) < 10:
                self.report.delivery_errors.append(str(err))

    def _undelivered(self, left: int) -> str:
        """How many records are lost, those the broker refused (only the first ten errors
        are kept) and the ``left`` a flush could not deliver in time, and the first errors."""
        return (f"{self.report.undelivered + left} records not delivered; errors: "
                f"{self.report.delivery_errors[:3]}")

    def flush(self, timeout_s: float = FLUSH_S) -> None:
        left = self.producer.flush(timeout_s)
        if left or self.report.delivery_errors:
            raise KafkaError(
                self._undelivered(left),
                hint="check that the broker is reachable and the topics exist",
            )
