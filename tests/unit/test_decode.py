"""The fast decoder (core/decode.py) against the pydantic models, the reference.

Differential: over generated and mutated records, both agree on accept/reject, on the
rejection's reason, detail and ts, and on every decoded value (type included).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from greekstream.core import decode
from greekstream.core.events import (
    INPUT_TYPES,
    DecodeError,
    Instrument,
    LpPosition,
    encode_input,
)
from greekstream.core.events import decode_event as reference
from greekstream.core.timeutil import parse_ts
from tests.unit import builders as b


def outcome(fn: Any, raw: bytes | str) -> tuple[str, Any]:
    try:
        event = fn(raw)
    except DecodeError as exc:
        return "rejected", (exc.reason, exc.detail, exc.ts)
    model = INPUT_TYPES[event.type]
    values = {name: getattr(event, name) for name in model.model_fields}
    return "accepted", (event.type, {k: (type(v), v) for k, v in values.items()},
                        encode_input(event))


def assert_same(raw: bytes | str) -> None:
    assert outcome(decode.decode_event, raw) == outcome(reference, raw), raw


# ----------------------------------------------------------------------------- records

_TS = ["2026-03-01T00:00:00Z", "2026-03-01T00:00:00.250Z", "2026-03-01T12:00:00.123456Z",
       "2026-03-01T12:00:00+01:00", "2026-03-01 12:00:00Z", "2026-03-01T12:00:00",
       "2026-13-01T00:00:00Z", "2026-03-01t00:00:00z", "2026-03-01T00:00:00.1234567Z", "",
       "1772323200", "2026-03-01T24:00:00Z"]

_number_text = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: orjson.dumps(x)),
    st.integers(-10**25, 10**25).map(lambda n: str(n).encode()),
    st.sampled_from([b"0", b"-0", b"-0.0", b"1e400", b"-1e400", b"1e-400", b"5e-324",
                     b"1.7976931348623157e308", b"1.8e308", b"1E+2", b"0.5", b"1" * 320,
                     b"NaN", b"Infinity", b"-Infinity", b"01", b"1.", b".5", b"+1", b"0x10"]),
)
_text = st.one_of(st.text(max_size=140), st.sampled_from(["", "a" * 128, "a" * 129,
                                                          "\U0001f600" * 128,
                                                          "\U0001f600" * 129, "\x00"]))
_string_text = st.one_of(
    _text.map(lambda s: orjson.dumps(s)),
    st.sampled_from([b'"\\ud800"', b'"\xff"', b'"\\q"', b'"a\tb"', b'"\\u00e9"',
                     b'"\xc3\xa9"']),
)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


_json_value = st.one_of(
    _number_text, _string_text,
    st.sampled_from([b"null", b"true", b"false", b"[]", b"{}", b'{"a":NaN}', b"[1,2]",
                     _nested(150), _nested(300), _nested(3000)]),
)

_HOT_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "quote": {"instrument_id": st.sampled_from(["BTC-PERPETUAL", "BTC-27MAR26-90000-C"]),
              "underlying_price": st.floats(1, 1e6), "mark_iv": st.floats(0.01, 3),
              "mark_price": st.floats(0.5, 1e6), "bid": st.floats(0, 1e6),
              "ask": st.floats(0, 1e6)},
    "index": {"underlying": st.sampled_from(["BTC", "ETH"]), "price": st.floats(1, 1e6),
              "source": st.sampled_from(["deribit", "chainlink"])},
    "trade": {"book": st.sampled_from(["desk-a", "mm-1"]),
              "instrument_id": st.sampled_from(["BTC-PERPETUAL"]),
              "side": st.sampled_from(["buy", "sell", "BUY", "hold"]),
              "quantity": st.floats(0.1, 1e4), "price": st.floats(0.0001, 1e6)},
    "tick": {},
}


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """A valid-looking record of a hot (or another) type, then zero or more mutations."""
    kind = draw(st.sampled_from([*_HOT_FIELDS, *_HOT_FIELDS, "instrument", "limits", "bogus"]))
    pairs: list[tuple[bytes, bytes]] = [
        (b"type", orjson.dumps(kind)),
        (b"event_id", orjson.dumps(draw(st.sampled_from(["e-1", "x" * 128])))),
        (b"ts", orjson.dumps(draw(st.sampled_from(_TS[:3])))),
    ]
    for name, values in _HOT_FIELDS.get(kind, {}).items():
        if draw(st.booleans()) or name in ("instrument_id", "underlying", "book", "side",
                                           "quantity", "price"):
            pairs.append((name.encode(), orjson.dumps(draw(values))))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        action = draw(st.sampled_from(["drop", "replace", "extra", "duplicate", "ts"]))
        if action == "drop" and pairs:
            pairs.pop(draw(st.integers(0, len(pairs) - 1)))
        elif action == "replace" and pairs:
            i = draw(st.integers(0, len(pairs) - 1))
            pairs[i] = (pairs[i][0], draw(_json_value))
        elif action == "extra":
            key = draw(st.one_of(st.sampled_from([b"extra", b"\xff", b"\\ud800", b"type"]),
                                 st.text(max_size=5).map(lambda s: orjson.dumps(s)[1:-1])))
            pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(_json_value)))
        elif action == "duplicate" and pairs:
            key, _ = pairs[draw(st.integers(0, len(pairs) - 1))]
            pairs.append((key, draw(_json_value)))
        elif action == "ts":
            pairs.append((b"ts", orjson.dumps(draw(st.sampled_from(_TS)))))
    raw = b"{" + b",".join(b'"' + k + b'":' + v for k, v in pairs) + b"}"
    if draw(st.integers(0, 9)) == 0:  # byte-level damage
        pos = draw(st.integers(0, len(raw)))
        raw = raw[:pos] + draw(st.sampled_from([b"", b" ", b"\xff", b"}", b'"', b","])) \
            + raw[pos + draw(st.integers(0, 2)):]
    return raw


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=records())
@example(raw=b'{"type":"quote","event_id":"a","ts":"2026-03-01T00:00:00Z",'
             b'"instrument_id":"x","extra":"\xff"}')
@example(raw=b'{"type":"quote","event_id":"a","ts":"2026-03-01T00:00:00Z",'
             b'"instrument_id":"x","extra":' + _nested(300) + b"}")
@example(raw=b'{"type":"quote","event_id":"a","ts":"2026-03-01T00:00:00Z",'
             b'"instrument_id":"x","mark_price":-1,"mark_price":1}')
def test_fast_decoder_agrees_with_the_models(raw: bytes) -> None:
    assert_same(raw)


@pytest.mark.parametrize("raw", [
    b.quote_opt("q", 1, "BTC-X-C", 60000, 0.6),
    b.quote_mark("m", 1.25, "BTC-PERPETUAL", 60000),
    b.index("x", 1, 60000),
    b.trade("t", 1, "BTC-X-C", "sell", 2),
    b.rec("index", "i", 3, underlying="ETH", price=2000.5, source="chainlink"),
])
def test_hot_records_take_the_fast_path_with_the_models_values(raw: bytes) -> None:
    event = decode.decode_event(raw)
    assert decode.is_fast(event)
    assert_same(raw)
    assert_same(raw.decode())  # str input: same outcome (through the models)
    assert event.as_model() == reference(raw)


def test_every_hot_type_of_the_registry_has_a_fast_path() -> None:
    hot = {t for t in decode.HOT_TYPES if t in INPUT_TYPES}
    assert hot >= {"quote", "index", "trade"}
    assert set(decode.FAST_STRUCTS) == hot


@pytest.mark.parametrize("model", [Instrument, LpPosition])
def test_models_with_validators_are_not_derived(model: type[BaseModel]) -> None:
    with pytest.raises(decode.Unsupported):
        decode.derive_struct(model)


def test_other_types_and_bad_records_come_back_as_the_models_decide() -> None:
    assert not decode.is_fast(decode.decode_event(b.perp()))
    assert not decode.is_fast(decode.decode_event(b.limits("l", 1, max_abs_delta=1)))
    for raw in (b"", b"[]", b"{", b'{"type":"quote"}', b.trade("t", 1, "X", "buy", -1)):
        assert_same(raw)
        with pytest.raises(DecodeError):
            decode.decode_event(raw)


def test_decode_many_keeps_order_and_rejections() -> None:
    raws = [b.index("a", 1, 100.0), b"{", b.perp()]
    out = decode.decode_many(raws)
    assert [type(x).__name__ for x in out] == ["FastIndex", "DecodeError", "Instrument"]
    assert out[1].reason == "invalid_json"


def test_timestamp_memo_stays_bounded() -> None:
    memo = decode.FAST_STRUCTS["quote"].ts_memo  # type: ignore[attr-defined]
    memo.clear()
    for n in range(decode._TS_CACHE_SIZE + 10):
        text = f"2026-03-01T00:00:00.{n:06d}Z"
        assert memo(text) == parse_ts(text)
    assert 0 < len(memo.table) <= decode._TS_CACHE_SIZE == memo.size


@pytest.mark.parametrize("text", [
    "2026-W09-1T00:00:00Z",  # an ISO 8601 week date
    "2026-03-01T12:00:00+0100", "2026-03-01T12:00:00+01",  # offsets RFC 3339 does not write
    "2026-03-01T12:00:00,5Z",  # a comma before the fraction
    "2026-03-01T12:00:00.1234567Z",  # a seventh digit: it was dropped without a word
    "2026-03-01T12:00:00.5+01:00:30",  # seconds in the offset
    "2026-03-01T12:00:00 Z",
    "\u0662\u0660\u0662\u0666-03-01T12:00:00Z",  # digits of another script
])
def test_a_ts_that_is_not_rfc_3339_is_rejected_by_both_decoders(text: str) -> None:
    """The contract's ts is RFC 3339 with at most microseconds (docs/contract.md);
    datetime.fromisoformat alone took these (ISO 8601's other forms) as times."""
    raw = b.rec("index", "i", 0, underlying="BTC", price=1.0).replace(
        b'"2026-03-01T00:00:00Z"', orjson.dumps(text))
    assert_same(raw)
    with pytest.raises(DecodeError) as caught:
        decode.decode_event(raw)
    assert caught.value.reason == "invalid_event" and "RFC 3339" in caught.value.detail


@pytest.mark.parametrize(("text", "micros"), [
    ("2026-03-01t12:00:00z", 1772366400000000),  # RFC 3339 5.6: T and Z may be lower case
    ("2026-03-01T12:00:00.123456-05:30", 1772386200123456),
    ("2026-03-01T12:00:00.5+00:00", 1772366400500000),
])
def test_rfc_3339_in_any_of_its_forms_is_read(text: str, micros: int) -> None:
    assert parse_ts(text) == micros
