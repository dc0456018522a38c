"""SPEC v2 "Emission in event-time windows", the boundaries: windows are [k·E, (k+1)·E)
of event time, epoch-aligned; a record at (k+1)·E − 1 µs is still in the open window, one
at (k+1)·E closes it before it is applied; a record older than the clock closes nothing;
a tick closes the window it moves past and emits nothing of its own."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from greekstream.core.timeutil import format_ts
from tests.unit import builders as b
from tests.unit.test_emission_windows import SETUP, run

pytestmark = pytest.mark.timeout(60)

E_US = 100_000
START = b.parse(b.ts(0))  # 2026-03-01T00:00:00Z, a multiple of E


def at(raw: bytes, ts_us: int) -> bytes:
    event = orjson.loads(raw)
    event["ts"] = format_ts(ts_us)
    return orjson.dumps(event)


def kinds(outputs: list[Any]) -> list[tuple[str, str, str, int]]:
    return [(o.type, o.book, o.caused_by, o.ts) for o in outputs if o.type == "exposure"]


def test_window_boundaries_are_half_open_and_epoch_aligned() -> None:
    assert START % E_US == 0
    engine, _ = run(SETUP)
    end = START + 3 * E_US  # the window [2E, 3E)
    assert engine.handle(at(b.quote_opt("q1", 0, "C60", 61000, 0.6), end - E_US), "x") == []
    last = end - 1
    assert engine.handle(at(b.quote_opt("q2", 0, "C60", 61100, 0.6), last), "x") == []
    out = engine.handle(at(b.quote_opt("q3", 0, "C60", 61200, 0.6), end), "x")
    assert kinds(out) == [("exposure", "desk-a", "q2", last), ("exposure", "desk-c", "q2", last)]
    # older than the clock (in a closed window): applied, closes nothing
    assert engine.handle(at(b.index("x1", 0, 60500), end - E_US), "x") == []
    # a tick inside the open window closes nothing; one at its end closes it
    assert engine.handle(at(b.tick("k1", 0), end + E_US - 1), "x") == []
    out = engine.handle(at(b.tick("k2", 0), end + E_US), "x")
    assert kinds(out) == [("exposure", "desk-a", "x1", end - E_US),
                          ("exposure", "desk-b", "x1", end - E_US),
                          ("exposure", "desk-c", "x1", end - E_US)]
    assert {o.caused_by for o in out} == {"x1"}  # nothing caused by the tick itself
