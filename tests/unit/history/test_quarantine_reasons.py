"""The sink's quarantine of output records (history/rows.py): every malformed shape gets
its machine-readable reason and a message naming the field, and nothing the engine
produces is quarantined (no ClickHouse needed)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from greekstream.core.events import OUTPUTS, encode
from greekstream.errors import HistoryError
from greekstream.history.client import refused_for_data, too_many_partitions
from greekstream.history.rows import (
    QUARANTINE,
    QUARANTINE_REASONS,
    Quarantined,
    field_spec,
    output_problem,
)
from greekstream.runtime.replay import read_records, replay

GOLDEN = Path(__file__).parents[2] / "golden"

EXPOSURE: dict[str, Any] = {
    "type": "exposure", "event_id": "x1", "ts": "2026-03-01T00:00:01Z", "book": "desk-a",
    "underlying": "BTC", "delta": 0.5, "delta_equity": 0.5, "gamma": 0.001, "vega": 10.0,
    "theta": -5.0, "delta_usd": None, "positions": 3, "caused_by": "c1", "stale": False,
    "oracle_divergence": False,
}


def exposure(**changes: Any) -> bytes:
    fields = {**EXPOSURE, **changes}
    return orjson.dumps({k: v for k, v in fields.items() if v != "<absent>"})


@pytest.mark.parametrize(
    ("body", "reason", "named"),
    [
        (b"\xff\xfe not json", "not_json", "not JSON"),
        (b'{"type":"exposure","event_id":"x1"', "not_json", "not JSON"),
        (b"[1, 2, 3]", "not_an_object", "a list"),
        (b'"exposure"', "not_an_object", "a string"),
        (b'{"event_id":"x1"}', "missing_field", "`type` is missing"),
        (b'{"type":null}', "missing_field", "`type` is null"),
        (b'{"type":["exposure"]}', "wrong_type", "`type` must be a string"),
        (b'{"type":"greeks_v9","event_id":"x1"}', "unknown_type", "'greeks_v9'"),
        (exposure(event_id="<absent>"), "missing_field", "`event_id` is missing"),
        (exposure(ts=None), "missing_field", "`ts` is null"),
        (exposure(delta="0.5"), "wrong_type", "`delta` must be a number, not a string"),
        (exposure(positions=2.5), "wrong_type", "`positions` must be an integer"),
        (exposure(book=7), "wrong_type", "`book` must be a string, not a number"),
        (exposure(stale="no"), "wrong_type", "`stale` must be true or false"),
        (exposure(ts="yesterday"), "bad_time", "`ts` 'yesterday'"),
        (exposure(ts="2300-01-01T00:00:00Z"), "bad_time", "1970..2105"),
        (exposure(positions=2**63), "out_of_range", "`positions`"),
        (b'{"type":"var","event_id":"v","ts":"2026-03-01T00:00:00Z","var":"x","es":1}',
         "wrong_type", "`var` must be a number"),
        (b'{"type":"risk_matrix","event_id":"r","ts":"2026-03-01T00:00:00Z",'
         b'"pnl":[1.0,"x"]}', "wrong_type", "`pnl` must be a list of numbers"),
        (b'{"type":"hedge_intent","event_id":"h","ts":"2026-03-01T00:00:00Z"}',
         "missing_field", "`intent_id` is missing"),
    ],
)
def test_each_malformed_output_gets_its_reason(body: bytes, reason: str, named: str) -> None:
    problem = output_problem(body)
    assert problem is not None
    assert (problem.reason, named in problem.message) == (reason, True), problem
    assert problem.reason in QUARANTINE_REASONS


def test_a_second_record_of_a_checked_shape_is_still_checked() -> None:
    """The check remembers a shape of field types that passed; values are still checked."""
    assert output_problem(exposure()) is None
    assert output_problem(exposure(event_id="x2")) is None
    problem = output_problem(exposure(ts="2026-02-30T00:00:00Z"))
    assert problem is not None and problem.reason == "bad_time"
    assert output_problem(exposure(delta=1)) is None  # an integer is a number


def test_nothing_the_engine_produces_is_quarantined() -> None:
    """Today's outputs of every golden case and the v1 outputs stored before them (the
    risk matrix's older `scenarios` shape) all pass."""
    bodies = []
    for case in sorted((GOLDEN / "cases").glob("*.jsonl")):
        bodies += [encode(o) for o in replay(read_records(case)).outputs]
    for stored in sorted((GOLDEN / "v1").glob("*.outputs.jsonl*")):
        raw = stored.read_bytes()
        bodies += (gzip.decompress(raw) if stored.suffix == ".gz" else raw).splitlines()
    kinds = {orjson.loads(b)["type"] for b in bodies}
    assert {"exposure", "risk_matrix", "hedge_intent", "rejected"} <= kinds
    problems = [(b[:80], output_problem(b)) for b in bodies if output_problem(b) is not None]
    assert problems == []


def test_the_checks_follow_the_output_models() -> None:
    """Every field a check reads is a field of its event model, and a field the model
    lets be null is never required (the engine's outputs are never quarantined for it)."""
    for kind, event_type in OUTPUTS.items():
        fields = event_type.model.model_fields
        for name, _code, required in field_spec(kind):
            assert name in fields, (kind, name)
            annotation = str(fields[name].annotation)
            assert not (required and "None" in annotation), (kind, name, annotation)


def test_the_quarantine_row_matches_its_table() -> None:
    assert Quarantined._fields == QUARANTINE.columns
    assert set(QUARANTINE_REASONS) >= {"not_json", "not_an_object", "missing_field",
                                       "wrong_type", "bad_time", "clickhouse_refused"}


def _failed(cause: BaseException) -> HistoryError:
    try:
        raise HistoryError("insert into exposures failed") from cause
    except HistoryError as exc:
        return exc


@pytest.mark.parametrize(
    ("cause", "for_data"),
    [
        (DatabaseError("Code: 27. DB::Exception: Cannot parse input: expected ','"), True),
        (DatabaseError("Code: 117. DB::Exception: Duplicate field found: delta"), True),
        (DatabaseError("Code: 252. DB::Exception: Too many parts (300). Merges are "
                       "processing significantly slower than inserts"), False),
        (ValueError("could not convert string to float: 'abc'"), True),
        (OperationalError("Error HTTPConnectionPool: Connection refused"), False),
        (DatabaseError("Code: 241. DB::Exception: Memory limit (total) exceeded"), False),
        (DatabaseError("Code: 210. DB::NetException: Connection reset by peer"), False),
        (ConnectionRefusedError(111, "Connection refused"), False),
    ],
)
def test_a_refused_insert_is_told_from_an_unreachable_clickhouse(
    cause: BaseException, for_data: bool
) -> None:
    assert refused_for_data(_failed(cause)) is for_data


def test_too_many_partitions_splits_the_insert_and_blames_no_row() -> None:
    many = _failed(DatabaseError("Code: 252. DB::Exception: Too many partitions for single "
                                 "INSERT block (more than 100)."))
    behind = _failed(DatabaseError("Code: 252. DB::Exception: Too many parts (300). Merges "
                                   "are processing significantly slower than inserts"))
    assert too_many_partitions(many) and not refused_for_data(many)
    assert not too_many_partitions(behind)
