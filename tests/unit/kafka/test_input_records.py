"""Input records with null parts (kafka/processor.py ``_record``), against the fakes of
tests/unit/kafka/fakes.py: Kafka lets a producer write a record without a value (a
tombstone) or a header without one; neither stops the processor or is reported as its own
failure."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from greekstream.kafka.merge import UNSEQUENCED_RANK, Position
from tests.unit.kafka.fakes import BOOK, OUT, FakeMessage, Gateway, assign, processor


def unsequenced(pos: Position | None, after_seq: int) -> bool:
    """``pos`` is an unsequenced record's: right after its partition's seq ``after_seq``."""
    return pos is not None and pos[0] == after_seq and pos[1] >= UNSEQUENCED_RANK


class Foreign(FakeMessage):
    """Another producer's record: no gs-seq header, and a record time (ms)."""

    def __init__(self, topic: str, partition: int, offset: int, timestamp_ms: int) -> None:
        super().__init__(topic, partition, offset, b"desk", b"{}", None)
        self.timestamp_ms = timestamp_ms

    def headers(self) -> list[tuple[str, bytes | None]]:
        return []

    def timestamp(self) -> tuple[int, int]:
        return (1, self.timestamp_ms)


def foreign(gateway: Gateway, timestamp_ms: int) -> None:
    """A record of another producer in BOOK/0, after what the gateway wrote there."""
    at = gateway.offsets[(BOOK, 0)]
    gateway.offsets[(BOOK, 0)] += 1
    gateway.kafka.books.queued.append(Foreign(BOOK, 0, at, timestamp_ms))


def _rejected(calls: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [orjson.loads(c[4]) for c in calls if c[0] == "send" and c[1] == OUT]


def test_a_tombstone_is_rejected_as_an_empty_record(caplog: pytest.LogCaptureFixture) -> None:
    """It was handed to the engine as None: the engine raised, and the processor logged
    the traceback of a failed record and reported it as internal_error."""
    proc, kafka = processor()
    assign(proc, kafka, [0, 1])
    offset = Gateway(proc, kafka).publish(0, None)
    with caplog.at_level(logging.ERROR, logger="greekstream.process"):
        proc.step()
    (out,) = _rejected(kafka.txn_producer.calls)
    assert out["reason"] == "invalid_json" and out["raw"] == ""
    assert out["source"].endswith(f"/0/{offset}")
    assert not [r for r in caplog.records if r.getMessage().startswith("record failed")]
    assert proc.epoch is not None and proc.epoch.released == 1


def test_a_null_gateway_stamp_is_no_stamp() -> None:
    """The record is placed as one without the header (int(None) raised out of the
    processor's loop, which stopped it)."""
    proc, kafka = processor()
    assign(proc, kafka, [0, 1])
    Gateway(proc, kafka).publish(0, stamp=False)
    proc.step()
    assert proc.epoch is not None and proc.epoch.released == 1
    assert unsequenced(proc.epoch.pos, after_seq=-1)  # nothing before it in its partition
    (out,) = _rejected(kafka.txn_producer.calls)
    assert out["reason"] == "unknown_type"  # the engine's answer to {}


@pytest.mark.parametrize("header", ["abc", "1.5", "-3", str(1 << 63), "9" * 5000])
def test_a_malformed_gateway_stamp_is_no_stamp(header: str) -> None:
    """Not the decimal digits of a non-negative int64 (what the gateway writes): placed as
    one without the header too. int(b"abc") raised out of the processor's loop and
    stopped it, at the same record after every restart; a seq past int64 failed later,
    in its outputs' headers."""
    proc, kafka = processor()
    assign(proc, kafka, [0, 1])
    Gateway(proc, kafka).publish(0, stamp=False)
    (msg,) = [m for m in kafka.books.queued if m.value() == b"{}"]
    msg._seq = header  # type: ignore[attr-defined]  # its header is str(_seq).encode()
    proc.step()
    assert proc.epoch is not None and proc.epoch.released == 1
    assert unsequenced(proc.epoch.pos, after_seq=-1)
    (out,) = _rejected(kafka.txn_producer.calls)
    assert out["reason"] == "unknown_type"


def test_the_gateways_own_stamps_are_read_as_written() -> None:
    from greekstream.kafka.processor import _stamp

    assert [_stamp(v) for v in (b"0", b"17", str((1 << 63) - 1).encode())] == [
        0, 17, (1 << 63) - 1]


def test_a_record_without_a_stamp_does_not_stall_its_partition() -> None:
    """Another producer's record with a current time: ordered by time (seq = ms x 1000),
    it waited at its partition's head for a gateway seq that never came, and every record
    behind it with it (1 of 52 released, the buffer growing, /healthz ok)."""
    proc, kafka = processor()
    assign(proc, kafka, [0, 1])
    gateway = Gateway(proc, kafka)
    gateway.publish(0)
    foreign(gateway, timestamp_ms=1_780_000_000_000)  # a 2026 wall clock
    for _ in range(50):
        gateway.publish(0)
    for _ in range(5):
        proc.step()
    assert proc.epoch is not None
    assert proc.epoch.released == 52 and proc.epoch.buffered == 0
    reasons = [r["reason"] for r in _rejected(kafka.txn_producer.calls)]
    assert reasons == ["unknown_type"] * 52  # each {} answered, the foreign one in its place


def test_a_record_without_a_stamp_never_moves_progress_back() -> None:
    """With an old record time (seq 0 by time) it went before records already released:
    progress moved back, and after a crash its outputs could be produced twice."""
    proc, kafka = processor()
    assign(proc, kafka, [0, 1])
    gateway = Gateway(proc, kafka)
    gateway.seq = 1_000  # a stream's seqs need not start at 1
    positions: list[Position] = []
    for step in range(6):
        if step == 3:
            foreign(gateway, timestamp_ms=0)  # released on its own in this step
        else:
            gateway.publish(0)
        proc.step()
        assert proc.epoch is not None and proc.epoch.pos is not None
        positions.append(proc.epoch.pos)
    assert positions == sorted(positions), positions
    assert unsequenced(positions[3], after_seq=1_003)  # right after the seq before it
    assert proc.epoch is not None and proc.epoch.released == 6


def test_a_copy_of_the_gateways_is_read_as_a_copy_and_anothers_header_is_not() -> None:
    """The gateway marks each copy of a record it publishes to every partition (a reorg)
    with gs-copy; the processor gives all copies one position (kafka/epoch.py
    ``at_position``). Without a gateway stamp the header means nothing."""
    from greekstream.kafka.epoch import at_position
    from greekstream.kafka.gateway import COPY_HEADER, SEQ_HEADER

    class Copied(FakeMessage):
        def __init__(self, seq: int | None) -> None:
            super().__init__(BOOK, 1, 4, b"eth", b"{}", seq)

        def headers(self) -> list[tuple[str, bytes | None]]:
            stamp = [] if self._seq is None else [(SEQ_HEADER, str(self._seq).encode())]
            return [*stamp, (COPY_HEADER, b"1")]

        def timestamp(self) -> tuple[int, int]:
            return (1, 0)

    proc, _kafka = processor()
    rec = proc._record(Copied(9), BOOK, 1, 4)  # type: ignore[arg-type]
    assert rec.copy and at_position(rec) == (9, rec.pos[1], -1, -1)
    foreign_copy = proc._record(Copied(None), BOOK, 1, 4)  # type: ignore[arg-type]
    assert not foreign_copy.copy and at_position(foreign_copy) == foreign_copy.pos
    plain = proc._record(FakeMessage(BOOK, 1, 5, b"desk", b"{}", 10), BOOK, 1, 5)  # type: ignore[arg-type]
    assert not plain.copy and at_position(plain) == plain.pos
