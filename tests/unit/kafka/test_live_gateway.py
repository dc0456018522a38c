"""The live gateway (`greekstream produce -`) without a broker: the line reader on a real
pipe, and the idle ticks, seqs and marks of Gateway.publish_live against a fake producer,
a scripted input and a fake clock (docs/streaming.md, *Live input*)."""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from greekstream.core.timeutil import parse_ts
from greekstream.kafka.gateway import MARK_KEY, SEQ_HEADER, Gateway
from greekstream.kafka.topics import ROUTES, Topics
from greekstream.runtime.live_lines import LiveLines
from greekstream.runtime.progress import Progress
from tests.unit import builders as b
from tests.unit.kafka.fakes import Clock

TOPICS = Topics("t")
E_MS = 100


# -- the line reader, on a real pipe ------------------------------------------------------

@pytest.fixture
def pipe() -> Iterator[tuple[LiveLines, int]]:
    r, w = os.pipe()
    try:
        yield LiveLines(r), w
    finally:
        os.close(r)
        with contextlib.suppress(OSError):  # a test closed it
            os.close(w)


def test_a_partial_line_waits_in_the_buffer_and_does_not_block_the_reader(
        pipe: tuple[LiveLines, int]) -> None:
    lines, w = pipe
    os.write(w, b'{"a":1}\n{"b"')
    assert lines.read(1.0) == [(b'{"a":1}', "stdin:1")]
    start = time.monotonic()
    assert lines.read(0.05) == []  # the rest of line 2 has not come: back after the timeout
    assert lines.read(0.05) == []
    assert time.monotonic() - start < 1.0
    os.write(w, b':2}\r\n\n   \n{"c":3}\n')
    assert lines.read(1.0) == [(b'{"b":2}', "stdin:2"), (b'{"c":3}', "stdin:5")]  # blanks count
    assert not lines.eof


def test_the_end_of_the_input_ends_a_last_line_without_its_line_break(
        pipe: tuple[LiveLines, int]) -> None:
    lines, w = pipe
    os.write(w, b'\xef\xbb\xbf{"a":1}\n{"z":9}')
    os.close(w)
    got = []
    while not lines.eof:
        got += lines.read(1.0)
    assert got == [(b'{"a":1}', "stdin:1"), (b'{"z":9}', "stdin:2")]  # the BOM is not JSON
    assert lines.read(1.0) == []


def test_a_read_on_an_idle_pipe_returns_after_its_timeout(pipe: tuple[LiveLines, int]) -> None:
    lines, _w = pipe
    start = time.monotonic()
    assert lines.read(0.1) == []
    assert 0.09 <= time.monotonic() - start < 2.0


def test_a_line_with_no_line_break_holds_a_record_at_most_and_is_rejected_whole(
        pipe: tuple[LiveLines, int]) -> None:
    """An adapter sending 3 MB with no line break: the reader keeps what rejecting the line
    takes (one record and a byte), drops the rest as it comes, and still cuts the line at
    its line break, so the next line is line 2 and comes whole."""
    from greekstream.core.events import MAX_RECORD_BYTES, record_too_long

    lines, w = pipe
    os.set_blocking(w, False)
    sent, held = 0, 0
    while sent < 3_000_000:
        with contextlib.suppress(BlockingIOError):
            sent += os.write(w, b"x" * 50_000)
        assert lines.read(0.0) == []
        held = max(held, len(lines.buffer))
    assert held == MAX_RECORD_BYTES + 1
    os.set_blocking(w, True)
    os.write(w, b'yyy\n{"a":1}\n')
    got: list[tuple[bytes, str]] = []
    while len(got) < 2:
        got += lines.read(1.0)
    (long, where), second = got
    assert where == "stdin:1" and long == b"x" * (MAX_RECORD_BYTES + 1)
    assert record_too_long(long) is not None
    assert second == (b'{"a":1}', "stdin:2") and not lines.buffer


# -- the gateway's live loop, with a fake clock -------------------------------------------

class Script:
    """A live input: (seconds of silence, lines) steps; a read waits on the fake clock."""

    def __init__(self, clock: Clock, steps: list[tuple[float, list[bytes]]]) -> None:
        self.clock, self.steps, self.eof, self.lineno = clock, list(steps), False, 0
        self.reads: list[float] = []

    def read(self, timeout_s: float) -> list[tuple[bytes, str]]:
        self.reads.append(timeout_s)
        if not self.steps:
            self.eof = True
            return []
        delay, lines = self.steps[0]
        if delay > timeout_s:
            waited = max(timeout_s, 1e-6)  # as a real wait: never shorter than a microsecond
            self.steps[0] = (delay - waited, lines)
            self.clock.now += waited
            return []
        self.steps.pop(0)
        self.clock.now += delay
        out = []
        for line in lines:
            self.lineno += 1
            out.append((line, f"stdin:{self.lineno}"))
        return out


class Producer:
    """What the gateway calls of a confluent_kafka Producer; every record delivered."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sent: list[dict[str, Any]] = []

    def produce(self, topic: str, value: bytes, key: bytes | None, partition: int = -1,
                headers: list[tuple[str, bytes]] | None = None, on_delivery: Any = None) -> None:
        seq = int(dict(headers or [])[SEQ_HEADER])
        self.sent.append({"topic": topic, "value": value, "key": key, "partition": partition,
                          "seq": seq, "at": self.clock.now})
        on_delivery(None, None)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0

    def records(self) -> list[dict[str, Any]]:
        """The records that are not marks, in order."""
        return [r for r in self.sent if r["key"] != MARK_KEY]

    def ticks(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["value"].startswith(b'{"type":"tick"')]


def gateway(clock: Clock, idle_tick_ms: int = E_MS, **options: Any) -> tuple[Gateway, Producer]:
    """A gateway whose wall clock is the builders' T0 when the fake clock starts."""
    producer = Producer(clock)
    partitions = {TOPICS.name(suffix): 2 for suffix, _ in ROUTES.values()}
    start = clock.now
    gw = Gateway({}, TOPICS, idle_tick_ms=idle_tick_ms, clock=clock, producer=producer,
                 partitions=partitions, wall=lambda: parse_ts(b.T0) / 1e6 + clock.now - start,
                 **options)
    return gw, producer


def run(steps: list[tuple[float, list[bytes]]], first_seq: int = 7, idle_tick_ms: int = E_MS,
        **options: Any) -> tuple[Gateway, Producer, Script]:
    clock = Clock()
    gw, producer = gateway(clock, idle_tick_ms, **options)
    script = Script(clock, steps)
    gw.publish_live(script, Progress("produce", stream=io.StringIO(), enabled=False), first_seq)
    return gw, producer, script


def ts_of(record: dict[str, Any]) -> int:
    return parse_ts(orjson.loads(record["value"])["ts"])


SETUP = [b.perp(), b.index("x0", 0.0, 60000), b.quote_mark("q0", 0.0, "BTC-PERPETUAL", 60000)]


def test_an_idle_spell_gets_one_tick_at_the_last_event_time_plus_the_idle_time_then_a_mark(
        ) -> None:
    _gw, producer, _ = run([(0.0, SETUP), (5.0, [b.quote_mark("q1", 0.3, "BTC-PERPETUAL", 1)])])
    ticks = producer.ticks()
    assert len(ticks) == 2  # one for the 5 s spell (not one per E), one at the end
    tick = ticks[0]
    assert ts_of(tick) == parse_ts(b.ts(0.0)) + E_MS * 1000  # idle E exactly on this clock
    assert tick["at"] == 1000.0 + E_MS / 1000
    assert tick["topic"] == TOPICS.name("index")
    assert orjson.loads(tick["value"])["event_id"] == f"gs-tick-{tick['seq']}"
    # seqs: lines and ticks one after the other from --first-seq
    assert [r["seq"] for r in producer.records()] == list(range(7, 7 + 3 + 1 + 1 + 1))
    assert tick["seq"] == 10
    # the tick is marked at once, in every input partition
    after = producer.sent[producer.sent.index(tick) + 1:]
    marks = [r for r in after if r["key"] == MARK_KEY and r["at"] == tick["at"]]
    assert {r["seq"] for r in marks} == {10}
    assert len(marks) == len({(r["topic"], r["partition"]) for r in marks}) == 2 * len(
        {s for s, _ in ROUTES.values()})
    # the end of the input: the end-of-input tick after the last event, as a file's
    end = ticks[1]
    assert end["seq"] == 12 and ts_of(end) == parse_ts(b.ts(0.3)) + E_MS * 1000


def test_the_tick_carries_the_wall_time_since_the_last_event_and_a_rejected_line_rearms_none(
        ) -> None:
    _gw, producer, _ = run([(0.0, SETUP), (0.06, [b"not json"]), (2.0, [b"[1]"]), (2.0, [])])
    (tick, end) = producer.ticks()  # no tick after the second rejected line: no new event
    # idle counts from the last line (the rejected one, at +0.06 s); the time from the last
    # event (+0.16 s)
    assert tick["at"] == pytest.approx(1000.16)
    assert ts_of(tick) == parse_ts(b.ts(0.0)) + 160_000
    assert [r["topic"] for r in producer.records()].count(TOPICS.name("rejected")) == 2
    assert end["seq"] == max(r["seq"] for r in producer.records())


def test_lines_faster_than_the_window_get_no_tick() -> None:
    steady = [(0.05, [b.quote_mark(f"q{i}", 0.05 * i, "BTC-PERPETUAL", 60000)])
              for i in range(1, 20)]
    _gw, producer, script = run([(0.0, SETUP), *steady])
    assert len(producer.ticks()) == 1  # the end's only
    assert max(script.reads) <= Gateway.LIVE_WAIT_S


def test_what_came_before_a_pause_is_marked_within_the_mark_interval_not_at_the_tick() -> None:
    # the rest comes 4 ms after the first line, before a mark is due: only the pause marks it
    _gw, producer, _ = run([(0.0, SETUP[:1]), (0.004, SETUP[1:]), (2.0, [])])
    last = producer.records()[2]
    (tick, _end) = producer.ticks()
    marks = [r["at"] for r in producer.sent if r["key"] == MARK_KEY and r["seq"] == last["seq"]]
    assert marks and marks[0] - last["at"] <= 0.005 + 1e-9 and marks[0] < tick["at"]


def test_no_tick_while_no_event_came_and_none_with_ticks_off() -> None:
    _gw, producer, _ = run([(3.0, [b"junk"]), (3.0, [])])
    assert producer.ticks() == []  # no event time to tick from
    _gw, producer, _ = run([(0.0, SETUP), (3.0, [b.index("x1", 1.0, 60000)]), (3.0, [])],
                           idle_tick_ms=0)
    assert producer.ticks() == []
    assert [r["seq"] for r in producer.records()] == [7, 8, 9, 10]


def test_a_stop_request_ends_without_the_end_of_input_tick() -> None:
    clock = Clock()
    gw, producer = gateway(clock)
    script = Script(clock, [(0.0, SETUP), (0.01, [b.index("x1", 0.01, 60000)]), (9.0, [])])
    gw.publish_live(script, Progress("produce", enabled=False), 1,
                    stop=lambda: script.lineno >= 4)  # once x1 is read
    assert producer.ticks() == [] and not script.eof
    assert producer.sent[-1]["key"] == MARK_KEY and producer.sent[-1]["seq"] == 4


def test_the_next_tick_counts_from_the_inputs_last_event_not_from_the_gateways_tick() -> None:
    late = b.index("x-late", 0.02, 60000)  # its time is before the first tick's
    _gw, producer, _ = run([(0.0, SETUP), (1.0, [late]), (1.0, [])])
    first, second, end = producer.ticks()
    assert ts_of(first) == parse_ts(b.ts(0.0)) + E_MS * 1000
    assert ts_of(second) == parse_ts(b.ts(0.02)) + E_MS * 1000
    assert ts_of(end) == parse_ts(b.ts(0.02)) + E_MS * 1000  # as a file's: closes nothing


def test_first_seq_shifts_a_files_line_numbers_and_a_live_run_starts_at_the_wall_clock(
        tmp_path: Path) -> None:
    from greekstream.commands.produce import _first_seq, numbered_lines
    from greekstream.errors import UsageError

    path = tmp_path / "e.jsonl"
    path.write_bytes(b'{"a":1}\n\n{"b":2}\n')
    assert [seq for seq, _raw, _src in numbered_lines(path)] == [1, 3]  # the line numbers
    assert [(seq, src) for seq, _raw, src in numbered_lines(path, _first_seq(100, False))] == [
        (100, "e.jsonl:1"), (102, "e.jsonl:3")]
    assert _first_seq(None, False) == 1
    before = time.time_ns() // 1000
    assert before <= _first_seq(None, True) <= time.time_ns() // 1000  # above an earlier run
    with pytest.raises(UsageError, match="--first-seq -1 is out of range"):
        _first_seq(-1, True)


def test_a_live_record_dated_more_than_max_ahead_past_the_wall_clock_is_rejected() -> None:
    """As a Kafka broker bounds a timestamp (message.timestamp.after.max.ms, 1 h): a live
    record dated further past the wall clock goes to .rejected (ts_ahead) and opens no
    window; one inside the bound, and the same record from a file, are published."""
    ahead = [b.quote_mark("q-ok", 3599.0, "BTC-PERPETUAL", 60010),  # 1 h less 1 s ahead
             b.quote_mark("q-far", 7200.0, "BTC-PERPETUAL", 60020),  # 2 h ahead
             b.quote_mark("q1", 1.0, "BTC-PERPETUAL", 60030)]
    gw, producer, _ = run([(0.0, SETUP), (0.5, ahead)])
    assert gw.report.rejected == 1 and gw.report.reasons == {"ts_ahead": 1}
    (rejected,) = [orjson.loads(r["value"]) for r in producer.records()
                   if r["topic"] == TOPICS.name("rejected")]
    assert rejected["reason"] == "ts_ahead" and rejected["source"] == "stdin:5"
    assert "--max-ahead" in rejected["detail"] and rejected["ts"] == b.ts(7200.0)
    published = [orjson.loads(r["value"]).get("event_id") for r in producer.records()
                 if r["topic"] != TOPICS.name("rejected")]
    assert "q-ok" in published and "q1" in published and "q-far" not in published
    gw, producer, _ = run([(0.0, SETUP), (0.5, ahead)], live_max_ahead_s=0)  # no limit
    assert gw.report.rejected == 0
    gw, producer = gateway(Clock(), live_max_ahead_s=60.0)  # a file: history, no wall bound
    gw.publish([(i, raw, f"f:{i}") for i, raw in enumerate([*SETUP, *ahead], 1)],
               Progress("produce", stream=io.StringIO(), enabled=False))
    assert gw.report.rejected == 0


def test_max_ahead_is_for_a_live_input_and_a_number_of_seconds() -> None:
    from greekstream.commands.produce import _max_ahead
    from greekstream.errors import UsageError
    from greekstream.kafka.gateway import LIVE_MAX_AHEAD_S

    assert _max_ahead(None, True) == _max_ahead(None, False) == LIVE_MAX_AHEAD_S == 3600.0
    assert _max_ahead(0.0, True) == 0.0 and _max_ahead(90.0, True) == 90.0
    with pytest.raises(UsageError, match="live input"):
        _max_ahead(90.0, False)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(UsageError, match="not a number of seconds"):
            _max_ahead(bad, True)


class BackFromAnOutage(Producer):
    """A broker back from an outage: the oldest record timed out in the local queue (its
    delivery report an error); what was produced after it is still queued, delivered by
    a flush. What a process leaves queued when it ends is lost."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.queued: list[tuple[dict[str, Any], Any]] = []
        self.failed: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []

    def produce(self, topic: str, value: bytes, key: bytes | None, partition: int = -1,
                headers: list[tuple[str, bytes]] | None = None, on_delivery: Any = None) -> None:
        super().produce(topic, value, key, partition, headers, lambda *_: None)
        self.queued.append((self.sent[-1], on_delivery))

    def poll(self, timeout: float) -> int:
        if not self.queued:
            return 0
        record, report = self.queued.pop(0)
        self.failed.append(record)
        report("Local: Message timed out", None)
        return 1

    def flush(self, timeout: float) -> int:
        for record, report in self.queued:
            self.delivered.append(record)
            report(None, None)
        self.queued.clear()
        return 0


def test_a_delivery_failure_ends_the_gateway_after_what_it_queued_is_delivered() -> None:
    """The gateway stops at the first delivery failure, telling where a next run starts
    (--first-seq last + 1): the lines it read up to there are delivered but the failed ones
    (named). It raised at once, leaving the records queued behind the failed one in the
    producer, lost when the process ended though the broker was back."""
    from greekstream.errors import KafkaError

    clock = Clock()
    gw, _ = gateway(clock)
    producer = gw.producer = BackFromAnOutage(clock)
    script = Script(clock, [(0.0, SETUP), (0.5, [b.index("x1", 0.5, 60000)])])
    with pytest.raises(KafkaError, match=r"^1 records not delivered; .*timed out") as info:
        gw.publish_live(script, Progress("produce", stream=io.StringIO(), enabled=False), 7)
    assert info.value.hint is not None and "--first-seq 10" in info.value.hint
    assert [r["seq"] for r in producer.failed] == [7]
    assert not producer.queued  # nothing left to be lost
    assert {r["seq"] for r in producer.delivered if r["key"] != MARK_KEY} == {8, 9}
