"""No record can crash the engine: `Engine.handle` never raises, a rejected record
changes no state, and every output validates against its JSON schema — for random JSON,
for random mutations of valid records, and over a fuzzed sample day."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greekstream.core.engine import Engine
from greekstream.core.events import Rejected, encode
from tests.unit import builders as b
from tests.unit.test_engine_properties import INSTRUMENTS

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = {p.stem: json.loads(p.read_text()) for p in (ROOT / "schemas" / "output").glob("*.json")}
VALIDATORS = {k: jsonschema.validators.validator_for(s)(s) for k, s in SCHEMAS.items()}
CALL = "C60"
VALID = [
    b.quote_opt("vq", 30, CALL, 61000, 0.6),
    b.quote_mark("vm", 30, "BTC-PERPETUAL", 61000),
    b.index("vx", 30, 61000),
    b.trade("vt", 31, CALL, "buy", 3),
    b.trade("vt2", 31, "BTC-PERPETUAL", "sell", 200, book="desk-b"),
    b.rec("collateral", "vc", 32, book="desk-a", asset="BTC", amount=2.5, chain="eth",
          block_number=10),
    b.rec("reorg", "vr", 33, chain="eth", from_block=10),
    b.limits("vl", 34, max_abs_delta=1, hedge_instrument="BTC-PERPETUAL", hedge_band=0.5,
             min_liq_distance=0.1, hedge_timeout_s=30),
    b.rec("margin", "vmg", 35, book="desk-a", underlying="BTC", equity=1e5,
          maintenance_margin=2e4),
    b.rec("loan", "vln", 36, book="desk-a", position_id="p1", protocol="aave",
          collateral_asset="BTC", collateral_amount=3, debt_asset="USD", debt_amount=5e4,
          liquidation_threshold=0.8, liquidation_bonus=0.05, close_factor=0.5),
    b.rec("lp_position", "vlp", 37, book="desk-b", position_id="lp1", pool="uni",
          base="BTC", liquidity=1e3, price_lower=50000, price_upper=70000),
    b.rec("instrument", "vi", 38, instrument_id="NEW-OPT", kind="option", underlying="BTC",
          settlement="linear", contract_size=1, expiry="2026-06-26T08:00:00Z", strike=65000,
          option_type="put"),
]
EXTREMES: list[Any] = [
    1e308, -1e308, 1.7976931348623157e308, 5e-324, -5e-324, 1e-300, 1e16, -1e16, 1e15, -1e15,
    1e-12, 0, 0.0, -1,
    2**63, -(2**63), 10**400, True, None, "", "x" * 200, [], {}, {"a": 1}, ["trade"],
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "1969-12-31T23:59:59Z",
    "2106-01-01T00:00:00Z", "2105-12-31T23:59:59.999999Z", "1970-01-01T00:00:00Z",
    "2026-03-01T00:00:00+00:00", "not a time",
]


# records after a mutated one: a breaching trade on the hedge instrument, market data, a
# record past every intent's timeout, so a value the door let in is used downstream too
AFTERWARDS = [
    b.trade("after-t", 40, "BTC-PERPETUAL", "buy", 10_000),
    b.quote_opt("after-q", 41, CALL, 62000, 0.65),
    b.index("after-x", 42, 62000),
    b.trade("after-t2", 43, CALL, "sell", 4, book="desk-b"),
    b.index("after-x2", 4000, 61500),
]
_SETUP: list[bytes] = []


def setup_engine() -> Engine:
    """A small desk (instruments, quotes, a position), restored from one snapshot."""
    if _SETUP:
        engine = Engine()
        engine.restore(_SETUP[0])
        return engine
    engine = Engine()
    for i, raw in enumerate([*INSTRUMENTS, b.index("x0", 1, 61000),
                             b.quote_opt("q0", 2, CALL, 61200, 0.62),
                             b.quote_mark("m0", 2, "BTC-PERPETUAL", 61010),
                             b.trade("t0", 3, CALL, "buy", 5)]):
        engine.handle(raw, f"setup:{i}")
    _SETUP.append(engine.snapshot())
    return engine


def check(engine: Engine, raw: bytes | str) -> list[Any]:
    before = engine.snapshot()
    out = engine.handle(raw, "fuzz:1")  # must not raise
    if out and all(isinstance(o, Rejected) for o in out):
        assert len(out) == 1
        assert b.unchanged_but_rejection_chain(before, engine.snapshot(), out), out[0]
    for o in out:
        VALIDATORS[o.type].validate(orjson.loads(encode(o)))
    return out


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(json_values)
def test_random_json_never_raises(value: Any) -> None:
    check(setup_engine(), json.dumps(value))


@SETTINGS
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_records_never_raise_and_rejections_change_nothing(
    raw: bytes, data: st.DataObject
) -> None:
    record = orjson.loads(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        field = data.draw(st.sampled_from([*sorted(record), "extra"]))
        value = data.draw(st.sampled_from(EXTREMES) | json_values)
        if data.draw(st.booleans()) and field != "extra":
            del record[field]
        else:
            record[field] = value
    engine = setup_engine()
    check(engine, json.dumps(record))  # json: big ints and 1e308 as written
    check(engine, raw)  # the engine still works afterwards
    for later in AFTERWARDS:  # and what the mutated record left in the state is harmless
        check(engine, later)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"type":{"a":1},"event_id":"p1","ts":"2026-03-01T00:00:09Z"}', "unknown_type"),
        (b'{"type":["trade"],"event_id":"p2","ts":"2026-03-01T00:00:09Z"}', "unknown_type"),
        (b.rec("collateral", "p3", 9, book="desk-a", asset="BTC", amount=1e308),
         "value_out_of_range"),
        (b.trade("p4", 9, CALL, "buy", 1e308), "value_out_of_range"),
        (b.quote_mark("p5", 9, "BTC-PERPETUAL", 5e-324), "value_out_of_range"),
        (b'{"type":"index","event_id":"p6","ts":"9999-12-31T23:59:59-23:59","underlying":"BTC",'
         b'"price":1}', "ts_out_of_range"),
        (b'{"type":"index","event_id":"p7","ts":"0001-01-01T00:00:00+23:59","underlying":"BTC",'
         b'"price":1}', "ts_out_of_range"),
        (b'{"type":"index","event_id":"p8","ts":"2106-01-01T00:00:00Z","underlying":"BTC",'
         b'"price":1}', "ts_out_of_range"),
        (b'{"type":"index","event_id":"p9","ts":"1969-12-31T23:59:59Z","underlying":"BTC",'
         b'"price":1}', "ts_out_of_range"),
        (b.rec("instrument", "p10", 9, instrument_id="X", kind="future", underlying="BTC",
               settlement="linear", contract_size=1, expiry="2200-01-01T00:00:00Z"),
         "ts_out_of_range"),
        (b.limits("p11", 9, hedge_instrument="BTC-PERPETUAL", hedge_band=0.1,
                  hedge_target=1e300), "value_out_of_range"),
    ],
)
def test_poison_records_of_issue_11_are_rejected_at_the_door(raw: bytes, reason: str) -> None:
    engine = setup_engine()
    (out,) = check(engine, raw)
    assert out.reason == reason and out.detail


def test_an_unexpected_failure_is_undone_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler that fails half-way (a bug) leaves no trace: the journal rolls back."""
    engine = setup_engine()
    before = engine.snapshot()
    real = engine._handlers["trade"]

    def broken(ev: Any) -> Any:
        real(ev)  # the state changes ...
        raise ZeroDivisionError("boom")  # ... then it fails

    monkeypatch.setitem(engine._handlers, "trade", broken)
    (out,) = engine.handle(b.trade("t-bug", 9, CALL, "buy", 7), "fuzz:2")
    assert out.reason == "internal_error" and "ZeroDivisionError: boom" in out.detail
    assert b.unchanged_but_rejection_chain(before, engine.snapshot(), [out])
    monkeypatch.setitem(engine._handlers, "trade", real)
    assert engine.handle(b.trade("t-ok", 10, CALL, "buy", 7), "fuzz:3")[0].type == "exposure"


def test_an_output_that_cannot_be_encoded_is_undone_with_its_input(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An output the wire cannot carry (a time past year 9999: it neither encodes nor
    hashes) raised out of ``handle`` after its input had changed the state; now the
    input is undone and rejected, and no chain head moves for the output."""
    engine = setup_engine()
    before = engine.snapshot()
    real = engine._handlers["trade"]

    def unencodable(ev: Any) -> Any:
        outputs = real(ev)  # the state changes ...
        bad = outputs[0].model_copy(update={"ts": 10**20, "event_id": "far"})
        return [*outputs, bad]  # ... and one output cannot be encoded

    monkeypatch.setitem(engine._handlers, "trade", unencodable)
    heads = dict(engine.chains.heads)
    (out,) = engine.handle(b.trade("t-far", 9, CALL, "buy", 7), "fuzz:2")
    assert out.reason == "internal_error" and out.detail
    assert b.unchanged_but_rejection_chain(before, engine.snapshot(), [out])
    # the book's chain did not move for the exposure that was never sent
    assert engine.chains.heads == {**heads, ("", "fuzz"): out.hash}


def test_flush_never_raises_and_undoes_a_close_that_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The end of a file's input closes the open window outside any record's guard: a
    close that fails (here an output that cannot be encoded) is undone and reported, and
    the window is still open for a flush that works."""
    engine = setup_engine()
    engine.handle(b.quote_opt("q-dirty", 9, CALL, 61500, 0.63), "s:1")
    before = engine.snapshot()
    real = engine.close_window
    armed = [True]

    def unencodable(*args: Any) -> Any:
        closed = real(*args)
        if not armed:  # (the rollback re-applies records: their closes work)
            return closed
        armed.clear()
        return [*closed, closed[0].model_copy(update={"ts": 10**20})]

    monkeypatch.setattr(engine, "close_window", unencodable)
    (out,) = engine.flush()
    assert out.reason == "internal_error" and "end of the input" in out.detail
    assert b.unchanged_but_rejection_chain(before, engine.snapshot(), [out])
    monkeypatch.setattr(engine, "close_window", real)
    assert "q-dirty" in [getattr(o, "caused_by", "") for o in engine.flush()]


def test_a_hedge_timeout_past_the_accepted_range_expires_at_its_end() -> None:
    """hedge_timeout_s up to the door's 1e15 s: the intent's expires_at (ts + timeout)
    was past year 9999 and raised out of ``handle`` when the trade that breached came
    (the trade applied, its outputs lost); it now expires at the accepted range's end."""
    from greekstream.core.guards import MAX_TS_US
    from greekstream.core.timeutil import format_ts

    engine = setup_engine()
    check(engine, b.limits("lim-far", 9, max_abs_delta=1.0, hedge_instrument="BTC-PERPETUAL",
                           hedge_band=0.5, hedge_timeout_s=1e15))
    out = check(engine, b.trade("t-breach", 10, "BTC-PERPETUAL", "buy", 10_000))
    (intent,) = [o for o in out if o.type == "hedge_intent"]
    assert orjson.loads(encode(intent))["expires_at"] == format_ts(MAX_TS_US)


def test_a_rollback_rebuilds_from_a_base_taken_mid_stream(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """The journal's base is retaken as the stream goes on (here every 3 inputs); a failure
    after several retakes leaves the state of the inputs before it, as a straight run."""
    from greekstream.core import guards

    records = [b.trade(f"t{i}", 40 + i, CALL, "buy" if i % 3 else "sell", 1 + i % 4)
               for i in range(11)]
    straight = setup_engine()
    for i, raw in enumerate(records):
        straight.handle(raw, f"fuzz:{i}")
    engine = setup_engine()
    engine._journal = guards.Journal(every=3, bytes_per_input=10**9)
    bases = set()
    for i, raw in enumerate(records):
        engine.handle(raw, f"fuzz:{i}")
        bases.add(engine._journal.base)
    assert len(bases) >= 3  # retaken mid-stream
    before = engine.snapshot()
    assert orjson.loads(before) == orjson.loads(straight.snapshot())
    real = engine._handlers["trade"]

    def broken(ev: Any) -> Any:
        real(ev)
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(engine._handlers, "trade", broken)
    (out,) = engine.handle(b.trade("t-bug", 60, CALL, "buy", 7), "fuzz:99")
    assert out.reason == "internal_error"
    assert b.unchanged_but_rejection_chain(before, engine.snapshot(), [out])
    # the rollback took a new base: a second failure re-applies nothing before it
    assert engine._journal.base is not None and not engine._journal.entries
    between = engine.snapshot()
    real = engine._handlers["trade"]  # (the rollback rebuilt the engine and its handlers)
    monkeypatch.setitem(engine._handlers, "trade", broken)
    (again,) = engine.handle(b.trade("t-bug2", 60, CALL, "buy", 7), "fuzz:100")
    assert again.reason == "internal_error"
    assert b.unchanged_but_rejection_chain(between, engine.snapshot(), [again])


def test_a_bigger_state_is_journaled_less_often() -> None:
    """A snapshot's time grows with the state: one input per 100 bytes of it, between
    20,000 and 100,000 inputs (the ``market`` sample's 8.7 MB: about 87,000)."""
    from greekstream.core.guards import Journal

    journal = Journal()
    assert journal.due()
    for size, limit in ((10_000, 20_000), (8_700_000, 87_000), (10**9, 100_000)):
        journal.start(b"x" * size)
        assert journal.limit == limit
        journal.entries = [None] * (limit - 1)  # type: ignore[list-item]
        assert not journal.due()
        journal.entries.append(None)  # type: ignore[arg-type]
        assert journal.due()


def test_a_fuzzed_day_never_raises_and_every_output_validates(tmp_path: Path) -> None:
    from greekstream.runtime.replay import read_records
    from greekstream.sample.generate import write_sample

    path = tmp_path / "day.jsonl"
    write_sample(path, "kafka-test", seed=11, show_progress=False)
    records = [raw for raw, _src in read_records(path)][:1000]  # bounded: seconds
    rng = random.Random(11)
    print(f"fuzz seed 11, {len(records)} records")
    engine = Engine()
    kinds: dict[str, int] = {}
    for i, raw in enumerate(records):
        if rng.random() < 0.05:
            doc = orjson.loads(raw)
            doc[rng.choice(sorted(doc))] = rng.choice(EXTREMES)
            raw = json.dumps(doc).encode()
        for o in engine.handle(raw, f"day:{i}"):
            kinds[o.type] = kinds.get(o.type, 0) + 1
            VALIDATORS[o.type].validate(orjson.loads(encode(o)))
    assert kinds.get("rejected", 0) > 0 and kinds.get("exposure", 0) > 100


def test_the_output_check_finds_a_non_finite_number_at_any_depth() -> None:
    """guards.first_non_finite reads pydantic outputs by their fields and nested records
    (a risk matrix's worst scenario) and lists of floats (its columns) as well;
    check_event reads a fast-decoded Struct's."""
    from greekstream.core.decode import decode_event, is_fast
    from greekstream.core.events import Exposure, RiskMatrixEvent, ScenarioPnl, build
    from greekstream.core.guards import GuardError, check_event, first_non_finite

    exposure = build(Exposure, event_id="e", ts=1, book="b", underlying="BTC", delta=1.0,
                     delta_equity=1.0, gamma=0.0, vega=0.0, theta=0.0, delta_usd=None,
                     positions=1, caused_by="q")
    assert first_non_finite([exposure]) is None
    assert first_non_finite([exposure.model_copy(update={"vega": math.inf})]) == "exposure.vega"
    cell = ScenarioPnl(price_shock=0.1, vol_shock=0.0, time_shift_h=0.0, pnl=1.0)
    matrix = build(RiskMatrixEvent, event_id="r", ts=1, book="b", underlying="BTC", as_of=1,
                   price_shocks=[0.1, 0.1], vol_shocks=[0.0, 0.0], time_shift_h=[0.0, 0.0],
                   names=[None, None], pnl=[1.0, 1.0], worst_loss=1.0, worst_scenario=cell,
                   liq_move_down=None, liq_move_up=None, liq_price_down=None,
                   liq_price_up=None, caused_by="q")
    assert first_non_finite([exposure, matrix]) is None
    # a float inside a column (the matrix's P&L) and inside a nested record
    bad_cell = matrix.model_copy(update={"pnl": [1.0, math.nan]})
    assert first_non_finite([exposure, bad_cell]) == "risk_matrix.pnl"
    bad_worst = matrix.model_copy(
        update={"worst_scenario": cell.model_copy(update={"pnl": -math.inf})})
    assert first_non_finite([bad_worst]) == "risk_matrix.worst_scenario"
    quote = decode_event(b'{"type":"quote","event_id":"q","ts":"2026-03-02T00:00:00Z",'
                         b'"instrument_id":"BTC-PERPETUAL","mark_price":1e300}')
    assert is_fast(quote)
    with pytest.raises(GuardError, match="mark_price"):
        check_event(quote)


def test_a_rejection_of_a_huge_record_carries_it_clipped_and_fits_in_a_kafka_record() -> None:
    """JSON-escaped into ``raw``, an 800 KB record would make a 1.6 MB rejection, over the
    1 MB a Kafka record may have: the processor stopped on it (MSG_SIZE_TOO_LARGE). Its
    rejection carries the first RAW_KEEP_CHARS characters, its length and its SHA-256;
    its event_id still comes from the whole record."""
    from hashlib import sha256

    from greekstream.core.guards import RAW_KEEP_CHARS, clip_raw

    engine = Engine()
    for i, raw in enumerate(VALID[:3]):
        engine.handle(raw, f"s:{i}")
    note = '\\"' * 400_000
    huge = (b'{"type":"trade","event_id":"big","ts":"2026-03-02T00:00:40Z","book":"desk-a",'
            b'"instrument_id":"NO-SUCH","side":"buy","quantity":1,"price":1,"note":"'
            + note.encode() + b'"}')
    before = engine.snapshot()
    (out,) = engine.handle(huge, "t:1")
    assert isinstance(out, Rejected) and out.reason == "unknown_instrument"
    assert b.unchanged_but_rejection_chain(before, engine.snapshot(), [out])  # no state changed
    text = huge.decode()
    assert out.raw == clip_raw(text)
    assert out.raw.startswith(text[:RAW_KEEP_CHARS])
    assert out.raw.endswith(f"... [clipped: {len(text):,} characters in all, "
                            f"sha256 {sha256(huge).hexdigest()}]")
    assert len(encode(out)) < 1_000_000
    # records that share their first RAW_KEEP_CHARS characters keep distinct ids
    (other,) = engine.handle(huge[:-2] + b'x"}', "t:1")
    assert other.raw != out.raw and other.event_id != out.event_id
    for junk in (b'"' * 900_000, b"\x01" * 900_000):  # not JSON; control characters
        (rej,) = engine.handle(junk, "t:2")  # escape to 6 bytes each
        assert rej.reason == "invalid_json" and len(encode(rej)) < 1_000_000
    small = VALID[0].replace(b'"quote"', b'"swap"')
    (rej,) = engine.handle(small, "t:3")
    assert rej.raw == small.decode()  # a record of ordinary size is carried whole


def test_an_input_record_too_long_for_one_kafka_record_is_rejected_in_a_replay_too() -> None:
    """A valid record made huge by an ignored field: over MAX_RECORD_BYTES it is rejected
    (invalid_event) by the decoder every runtime shares, so a file replay and the gateway
    agree; under it, it is applied."""
    from greekstream.core import decode
    from greekstream.core.events import MAX_RECORD_BYTES, DecodeError

    def padded(size: int) -> bytes:
        base = VALID[0][:-1] + b',"note":"'
        return base + b"x" * (size - len(base) - 2) + b'"}'

    for raw in (padded(MAX_RECORD_BYTES + 1), padded(MAX_RECORD_BYTES + 1).decode()):
        with pytest.raises(DecodeError, match="at most 900,000") as caught:
            decode.decode_event(raw)
        assert caught.value.reason == "invalid_event"
    assert decode.decode_event(padded(MAX_RECORD_BYTES)).type == "quote"
    engine = Engine()
    for i, raw in enumerate(VALID[:3]):
        engine.handle(raw, f"s:{i}")
    (rej,) = engine.handle(padded(MAX_RECORD_BYTES + 1), "t:1")
    assert rej.reason == "invalid_event" and len(encode(rej)) < 1_000_000


def test_a_rejections_detail_is_clipped_where_it_quotes_the_record() -> None:
    """``detail`` can quote the record: a whole bad ``type``, or one line per bad key of a
    mapping. Clipped to DETAIL_KEEP_CHARS, such a rejection stays far under 1 MB (a
    500 KB type made a 1.1 MB rejection, 60,000 bad regime_scale keys 4.5 MB)."""
    from greekstream.core.guards import DETAIL_KEEP_CHARS

    engine = Engine()
    bad_type = b'{"type":"' + b"\\\\" * 125_000 + b'","event_id":"x","ts":"2026-03-02T00:00:00Z"}'
    keys = ",".join(f'"k{i}":"no"' for i in range(60_000))
    bad_keys = ('{"type":"limits","event_id":"l","ts":"2026-03-02T00:00:00Z","book":"desk-a",'
                f'"regime_scale":{{{keys}}}}}').encode()
    for raw, reason in ((bad_type, "unknown_type"), (bad_keys, "invalid_event")):
        assert len(raw) < 900_000  # under the record size limit: the detail is the issue
        (rej,) = engine.handle(raw, "t:1")
        assert rej.reason == reason, rej.detail[:200]
        assert len(rej.detail) <= DETAIL_KEEP_CHARS + 60 and "... [clipped: " in rej.detail
        assert len(encode(rej)) < 500_000
