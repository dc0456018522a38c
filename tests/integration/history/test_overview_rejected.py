"""The dashboard's overview reads what the engine applied: a record it rejected changes no
limit in force and no as-of (real chDB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from greekstream.api.overview import overview
from greekstream.history import connect, write_replay
from greekstream.history.asof import history_span
from greekstream.runtime.replay import read_records, replay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def rec(type_: str, eid: str, second: int, **fields: object) -> bytes:
    return orjson.dumps({"type": type_, "event_id": eid,
                         "ts": f"2026-03-01T00:00:{second:02d}Z", **fields})


def store(dsn: str, folder: Path, *extra: bytes) -> list[str]:
    """A perpetual on BTC marked at 100, desk-a's limits (max |delta| 10) and a trade of
    1, then ``extra``; stored with its replay's outputs. Returns the rejections' reasons."""
    lines = [rec("instrument", "i", 0, instrument_id="P", kind="perpetual", underlying="BTC",
                 settlement="linear", contract_size=1),
             rec("index", "x", 1, underlying="BTC", price=100.0),
             rec("quote", "q", 2, instrument_id="P", mark_price=100.0),
             rec("limits", "l-good", 3, book="desk-a", underlying="BTC", max_abs_delta=10.0),
             rec("trade", "t1", 4, book="desk-a", instrument_id="P", side="buy", quantity=1,
                 price=100.0), *extra]
    path = folder / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    outputs = replay(read_records(path)).outputs
    write_replay(dsn, read_records(path), outputs)
    return [o.reason for o in outputs if o.type == "rejected"]


@pytest.mark.parametrize("fields", [
    {"max_abs_delta": "abc"},  # made every overview with the book a 500 (str * float)
    {"max_abs_delta": -5.0},  # was shown as the limit in force, its use -20%
    {"max_abs_delta": 1.0, "regime_scale": [1, 2]},
    {"max_abs_delta": 1.0, "regime_scale": {"calm": "x"}},
    {"max_abs_delta": 1e300},  # the guards' value_out_of_range
])
def test_a_rejected_limits_record_is_not_in_force(
    dsn: str, tmp_path: Path, fields: dict[str, Any]
) -> None:
    bad = rec("limits", "l-bad", 5, book="desk-a", underlying="BTC", **fields)
    assert store(dsn, tmp_path, bad) in (["invalid_event"], ["value_out_of_range"])
    with connect(dsn) as history:
        rows = overview(history, ["desk-a"])["rows"]
    assert [(r["limits"]["max_abs_delta"], r["use_pct"]["delta"]) for r in rows] == [(10.0, 10.0)]


def test_a_repeated_limits_id_is_a_duplicate_not_in_force(dsn: str, tmp_path: Path) -> None:
    """The engine drops a record whose event id its book already had (a duplicate: no
    rejection, nothing applied); the overview showed the repeat's limit in force."""
    repeat = rec("limits", "l-good", 5, book="desk-a", underlying="BTC", max_abs_delta=1.0)
    assert store(dsn, tmp_path, repeat) == []
    engine = replay(read_records(tmp_path / "events.jsonl")).engine
    assert engine.duplicates == 1
    with connect(dsn) as history:
        rows = overview(history, ["desk-a"])["rows"]
    assert [(r["limits"]["max_abs_delta"], r["use_pct"]["delta"]) for r in rows] == [(10.0, 10.0)]


def test_a_book_only_a_rejected_record_names_is_not_a_book(dsn: str, tmp_path: Path) -> None:
    """/v1/books (and the page's book list) lists the books the engine knows: not one
    that only a rejected trade (an unknown instrument, a book mistyped) named."""
    from greekstream.api.queries import books

    typo = rec("trade", "t2", 5, book="desk-typo", instrument_id="NOPE", side="buy",
               quantity=1, price=100.0)
    assert store(dsn, tmp_path, typo) == ["unknown_instrument"]
    with connect(dsn) as history:
        assert books(history) == ["desk-a"]


def test_a_rejected_record_dated_far_ahead_does_not_move_the_as_of(
    dsn: str, tmp_path: Path
) -> None:
    """A trade mistyped as 2099 (rejected: ts_ahead) made the dashboard say "as of 2099"
    (and history status's last_event): history ends at the last record applied."""
    typo = rec("trade", "typo", 5, book="desk-a", instrument_id="P", side="buy", quantity=1,
               price=100.0).replace(b"2026-03-01T00:00:05Z", b"2099-03-01T00:00:05Z")
    assert store(dsn, tmp_path, typo) == ["ts_ahead"]
    with connect(dsn) as history:
        assert overview(history, ["desk-a"])["as_of"] == "2026-03-01T00:00:04Z"
        span = history_span(history)
    assert span == (1772323200000000, 1772323204000000)
