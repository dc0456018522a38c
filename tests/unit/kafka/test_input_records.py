"""Input records with null parts (kafka/processor.py ``_record``), against the fakes of
tests/unit/kafka/fakes.py: Kafka lets a producer write a record without a value (a
tombstone) or a header without one; neither stops the processor or is reported as its own
failure."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from tests.unit.kafka.fakes import OUT, Gateway, assign, processor


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
    """The record is ordered by its time, as one without the header (int(None) raised out
    of the processor's loop, which stopped it)."""
    proc, kafka = processor()
    assign(proc, kafka, [0, 1])
    Gateway(proc, kafka).publish(0, stamp=False)
    proc.step()
    assert proc.epoch is not None and proc.epoch.released == 1
    assert proc.epoch.pos is not None and proc.epoch.pos[0] == 0  # record time 0 ms
    (out,) = _rejected(kafka.txn_producer.calls)
    assert out["reason"] == "unknown_type"  # the engine's answer to {}


@pytest.mark.parametrize("header", ["abc", "1.5", "-3", str(1 << 63), "9" * 5000])
def test_a_malformed_gateway_stamp_is_no_stamp(header: str) -> None:
    """Not the decimal digits of a non-negative int64 (what the gateway writes): ordered by
    its time too. int(b"abc") raised out of the processor's loop and stopped it, at the same
    record after every restart; a seq past int64 failed later, in its outputs' headers."""
    proc, kafka = processor()
    assign(proc, kafka, [0, 1])
    Gateway(proc, kafka).publish(0, stamp=False)
    (msg,) = [m for m in kafka.books.queued if m.value() == b"{}"]
    msg._seq = header  # type: ignore[attr-defined]  # its header is str(_seq).encode()
    proc.step()
    assert proc.epoch is not None and proc.epoch.released == 1
    assert proc.epoch.pos is not None and proc.epoch.pos[0] == 0  # record time 0 ms
    (out,) = _rejected(kafka.txn_producer.calls)
    assert out["reason"] == "unknown_type"


def test_the_gateways_own_stamps_are_read_as_written() -> None:
    from greekstream.kafka.processor import _stamp

    assert [_stamp(v) for v in (b"0", b"17", str((1 << 63) - 1).encode())] == [
        0, 17, (1 << 63) - 1]
