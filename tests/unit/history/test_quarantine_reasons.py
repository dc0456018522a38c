"""The sink's quarantine of output records (history/rows.py): every malformed shape gets
its machine-readable reason and a message naming the field, and nothing the engine
produces is quarantined (no ClickHouse needed)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.events import OUTPUTS, encode
from greekstream.errors import HistoryError
from greekstream.history.client import refused_for_data, too_many_partitions
from greekstream.history.rows import (
    INPUT_QUARANTINE,
    QUARANTINE,
    QUARANTINE_REASONS,
    Quarantined,
    field_spec,
    output_problem,
    repeated_key,
    top_level_keys,
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


VAR: dict[str, Any] = {
    "type": "var", "event_id": "v1", "ts": "2026-03-01T00:00:05Z", "book": "desk-a",
    "as_of": "2026-03-01T00:00:05Z", "confidence": 0.99, "scenarios": 3, "var": 1.0,
    "es": 2.0, "worst_date": "2026-01-02", "worst_pnl": -3.0, "first_date": "2026-01-01",
    "last_date": "2026-01-03", "pnl": [1.0, -3.0, 2.0], "unshocked": [], "caused_by": "c1",
}


def var(**changes: Any) -> bytes:
    fields = {**VAR, **changes}
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
        # a chain link that is not a string: the record would be stored without its
        # output_chain row (chain_row takes only a string hash)
        (exposure(hash=5), "wrong_type", "`hash` must be a string, not a number"),
        (exposure(prev=["x"]), "wrong_type", "`prev` must be a string, not a list"),
        (exposure(ts="yesterday"), "bad_time", "`ts` 'yesterday'"),
        (exposure(ts="2300-01-01T00:00:00Z"), "bad_time", "1970..2105"),
        (exposure(positions=2**63), "out_of_range", "`positions`"),
        (var(var="x"), "wrong_type", "`var` must be a number"),
        # a `var` the sink stored that GET /v1/books/{b}/var?format=png could not draw
        # (a 500): the whole output is checked, as schemas/output/var.json gives it
        (var(pnl=[], scenarios=0), "bad_value", "`pnl` is empty"),
        (var(first_date="<absent>"), "missing_field", "`first_date` is missing"),
        (var(pnl=["a"]), "wrong_type", "`pnl` must be a list of numbers"),
        (var(confidence=2.0), "bad_value", "`confidence` 2.0"),
        (var(confidence=0), "bad_value", "`confidence` 0"),
        (var(as_of="yesterday"), "bad_time", "`as_of` 'yesterday'"),
        (var(pnl=[1e308, -1e308], scenarios=2), "bad_value", "`pnl` is over 1e+300"),
        (var(es=-1e301), "bad_value", "`es` -1e+301"),
        (var(scenarios=4), "bad_value", "`scenarios` 4 is not the number of P&Ls"),
        (var(book=None), "missing_field", "`book` is null"),
        (var(unshocked=["ETH", None]), "wrong_type", "`unshocked` must be a list of strings"),
        (var(worst_date=5), "wrong_type", "`worst_date` must be a string"),
        (var(caused_by="<absent>"), "missing_field", "`caused_by` is missing"),
        (b'{"type":"risk_matrix","event_id":"r","ts":"2026-03-01T00:00:00Z",'
         b'"pnl":[1.0,"x"]}', "wrong_type", "`pnl` must be a list of numbers"),
        (b'{"type":"hedge_intent","event_id":"h","ts":"2026-03-01T00:00:00Z"}',
         "missing_field", "`intent_id` is missing"),
        # a key written twice: orjson reads the last value, ClickHouse the first
        (exposure()[:-1] + b',"delta":1}', "duplicate_key", "`delta` is written twice"),
        (exposure().replace(b'"delta":0.5', b'"delta":0.5,"delta":1'), "duplicate_key",
         "`delta`"),
        (exposure()[:-1] + b',"hash":"a","hash":"b"}', "duplicate_key", "`hash`"),
        (exposure()[:-1] + b',"\\u0062ook":"desk-b"}', "duplicate_key", "`book`"),
        # a comma escaped: the bytes hold one comma fewer than the value read
        (exposure()[:-1] + b',"book":"desk\\u002cb"}', "duplicate_key", "`book`"),
        (json.dumps({**EXPOSURE, "x": [1, 2]}, indent=2).encode()[:-1] + b', "delta" : 1}',
         "duplicate_key", "`delta`"),
        (b'{"type":"risk_matrix","event_id":"r","ts":"2026-03-01T00:00:00Z",'
         b'"pnl":[1.0,2.0],"names":["a,b",null],"event_id":"s"}', "duplicate_key",
         "`event_id`"),
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


def test_a_key_repeated_only_inside_a_value_is_not_a_duplicate() -> None:
    """Only the record's own keys count: a nested object, a string that looks like keys,
    commas in strings and lists (the exact count runs then) are not repeats."""
    body = exposure()[:-1] + (b',"notes":{"a":1,"a":2},"text":"\\"delta\\":1,",'
                              b'"more":[{"delta":2},"]",[[]]]}')
    assert output_problem(body) is None


_INTS = st.integers(-(2**63), 2**63 - 1)  # what orjson reads
_KEYS = st.text(alphabet='ab",:{}[] \\é', max_size=3)


def _objects(keys: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    scalars = (st.none() | st.booleans() | _INTS
               | st.floats(allow_nan=False, allow_infinity=False))
    values = st.recursive(scalars | st.text(), lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
    return st.dictionaries(keys, values, max_size=8)


@settings(max_examples=300, deadline=None)
@given(_objects(_KEYS), st.sampled_from([None, 0, 2]), st.data())
def test_the_members_of_any_object_are_counted_and_a_repeat_found(
    obj: dict[str, Any], indent: int | None, data: st.DataObject
) -> None:
    """However an object is written (compact, indented, blanks around the colons), its
    own keys are counted exactly; one written again anywhere among them is found."""
    body = json.dumps(obj, indent=indent, ensure_ascii=False).encode()
    assert len(top_level_keys(body)) == len(obj)
    assert repeated_key(body, orjson.loads(body)) is None
    if obj:
        key = data.draw(st.sampled_from(sorted(obj)))
        at = data.draw(st.integers(0, len(obj)))
        members = [f"{json.dumps(k)} : {json.dumps(v)}" for k, v in obj.items()]
        members.insert(at, f"{json.dumps(key)}:{json.dumps(data.draw(_INTS))}")
        twice = ("{" + ",".join(members) + "}").encode()
        found = repeated_key(twice, orjson.loads(twice))
        assert found is not None and found.reason == "duplicate_key"


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


def test_the_engines_var_outputs_are_not_quarantined() -> None:
    """The `var` check takes the whole output (its values too): the engine's streamed VaR,
    with an underlying the returns do not cover (unshocked), passes it."""
    from greekstream.core.engine import EngineConfig
    from greekstream.runtime.returns_file import parse_returns
    from tests.unit.scenarios.test_var import returns_csv
    from tests.unit.scenarios.test_var_stream import hours_of_market

    records = [(r, f"e.jsonl:{i + 1}") for i, r in enumerate(hours_of_market(3))]
    config = EngineConfig(returns=parse_returns(returns_csv(80)))
    bodies = [encode(o) for o in replay(records, config=config).outputs if o.type == "var"]
    assert len(bodies) > 3
    assert [output_problem(b) for b in bodies] == [None] * len(bodies)


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
                                       "wrong_type", "bad_time", "clickhouse_refused",
                                       "duplicate_key"}
    assert INPUT_QUARANTINE.columns == QUARANTINE.columns


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
        # clickhouse-connect 1.12 wraps a value it cannot serialize (an int beyond Int64)
        (DataError("Unable to create native array for column `ts`: error"), True),
        (DatabaseError("Code: 469. DB::Exception: Constraint `c` for table t.raw_events "
                       "is violated at row 1. (VIOLATED_CONSTRAINT)"), True),
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
