"""Property tests of the engine: determinism, idempotence under duplicates, snapshot
round-trips at any cut, and rejections that change nothing — on random event streams."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import encode
from tests.unit import builders as b

INSTRUMENTS = [
    b.option("C60", 60000),
    b.option("P55", 55000, kind="put"),
    b.option("LC70", 70000, settlement="linear", size=0.1),
    b.option("SHORT", 61000, expiry="2026-03-01T00:10:00Z"),
    b.perp(),
    b.perp("BTC-USDC-PERP", settlement="linear", size=0.001),
    b.rec("instrument", "def-FUT", 0, instrument_id="BTC-FUT", kind="future", underlying="BTC",
          settlement="inverse", contract_size=10, expiry="2026-06-26T08:00:00Z"),
    b.rec("instrument", "def-SPOT", 0, instrument_id="BTC-SPOT", kind="spot", underlying="BTC",
          settlement="linear", contract_size=1),
    b.limits("lim-a", 0, max_abs_delta=3, max_abs_vega=500, min_theta=-200,
             hedge_instrument="BTC-PERPETUAL", hedge_band=1.0),
    b.limits("lim-b", 0, book="desk-b", max_abs_gamma=0.0001, hedge_instrument="BTC-USDC-PERP",
             hedge_band=0.5, hedge_basis="equity", hedge_target=1.0),
]
IDS = ["C60", "P55", "LC70", "SHORT", "BTC-PERPETUAL", "BTC-USDC-PERP", "BTC-FUT", "BTC-SPOT"]


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    n = draw(st.integers(5, 60))
    out = list(INSTRUMENTS)
    t = 1.0
    block = 100
    for i in range(n):
        t += draw(st.floats(0.5, 90.0))
        kind = draw(st.sampled_from(["quote", "quote", "trade", "trade", "index", "coll",
                                     "reorg", "bad", "funding"]))
        iid = draw(st.sampled_from(IDS))
        if kind == "quote":
            if iid in ("C60", "P55", "LC70", "SHORT"):
                out.append(b.quote_opt(f"q{i}", t, iid, draw(st.floats(40000, 80000)),
                                       draw(st.floats(0.2, 1.5))))
            else:
                out.append(b.quote_mark(f"q{i}", t, iid, draw(st.floats(40000, 80000))))
        elif kind == "trade":
            out.append(b.trade(f"t{i}", t, iid, draw(st.sampled_from(["buy", "sell"])),
                               draw(st.floats(0.1, 20)),
                               book=draw(st.sampled_from(["desk-a", "desk-b"])),
                               price=draw(st.floats(100, 80000)), fee=draw(st.floats(0, 5))))
        elif kind == "funding":
            out.append(b.rec("funding", f"f{i}", t,
                             instrument_id=draw(st.sampled_from(["BTC-PERPETUAL",
                                                                 "BTC-USDC-PERP"])),
                             rate=draw(st.floats(-0.001, 0.001))))
        elif kind == "index":
            out.append(b.index(f"x{i}", t, draw(st.floats(40000, 80000))))
        elif kind == "coll":
            block += draw(st.integers(0, 3))
            out.append(b.rec("collateral", f"c{i}", t, book=draw(st.sampled_from(["desk-a",
                                                                                    "desk-b"])),
                             asset="BTC", amount=draw(st.floats(-5, 5)), chain="eth",
                             block_number=block))
        elif kind == "reorg":
            out.append(b.rec("reorg", f"r{i}", t, chain="eth",
                             from_block=block - draw(st.integers(0, 2))))
        else:
            out.append(b.trade(f"bad{i}", t, "NOPE", "buy", 1))
    return out


def replay_bytes(records: list[bytes], config: EngineConfig | None = None) -> list[bytes]:
    engine = Engine(config or EngineConfig(revaluation_interval_s=60))
    out: list[bytes] = []
    for i, raw in enumerate(records):
        out.extend(encode(o) for o in engine.handle(raw, f"s:{i}"))
    return out + [encode(o) for o in engine.flush()]  # the end of the input


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(streams())
def test_replay_is_deterministic(records: list[bytes]) -> None:
    assert replay_bytes(records) == replay_bytes(records)


@SETTINGS
@given(streams(), st.data())
def test_duplicates_change_nothing(records: list[bytes], data: st.DataObject) -> None:
    """Re-sending any earlier applied event (same event_id) anywhere later has no effect.
    (An event that was rejected changed nothing and is not remembered: sent again, it is
    a new attempt, which the state may now accept, e.g. funding once its perp is quoted.)"""
    expected = replay_bytes(records)
    probe = Engine(EngineConfig(revaluation_interval_s=60))
    rejected = {i for i, raw in enumerate(records)
                if any(o.type == "rejected" for o in probe.handle(raw, f"s:{i}"))}
    picks = data.draw(st.lists(st.integers(0, len(records) - 1), max_size=5))
    noisy = list(records)
    for pick in sorted(picks, reverse=True):
        raw = records[pick]
        if b'"reorg"' in raw or b'"collateral"' in raw or b'"bad' in raw:
            continue  # a retracted on-chain event may legitimately be mined again
        if pick in rejected:
            continue
        noisy.insert(data.draw(st.integers(pick + 1, len(noisy))), raw)
    engine = Engine(EngineConfig(revaluation_interval_s=60))
    got = []
    for raw in noisy:
        got.extend(encode(o) for o in engine.handle(raw, "x"))
    got.extend(encode(o) for o in engine.flush())
    got_without_rejections = [g for g in got if b'"rejected"' not in g]
    exp_without_rejections = [e for e in expected if b'"rejected"' not in e]
    assert got_without_rejections == exp_without_rejections


@SETTINGS
@given(streams(), st.data())
def test_snapshot_at_any_cut_continues_identically(records: list[bytes],
                                                   data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(records)))
    expected = replay_bytes(records)
    engine = Engine(EngineConfig(revaluation_interval_s=60))
    got: list[bytes] = []
    for i, raw in enumerate(records[:cut]):
        got.extend(encode(o) for o in engine.handle(raw, f"s:{i}"))
    restored = Engine(EngineConfig(revaluation_interval_s=60))
    restored.restore(engine.snapshot())
    for i, raw in enumerate(records[cut:], start=cut):
        got.extend(encode(o) for o in restored.handle(raw, f"s:{i}"))
    got.extend(encode(o) for o in restored.flush())
    assert got == expected


@SETTINGS
@given(streams())
def test_rejections_change_no_state(records: list[bytes]) -> None:
    engine = Engine()
    for i, raw in enumerate(records):
        before = engine.snapshot()
        out = engine.handle(raw, f"s:{i}")
        if out and all(o.type == "rejected" for o in out):
            assert b.unchanged_but_rejection_chain(before, engine.snapshot(), out)


@SETTINGS
@given(streams())
def test_book_outputs_do_not_depend_on_other_books(records: list[bytes]) -> None:
    """What a processor owning only one book emits for it equals the full replay's."""
    full = [orjson.loads(o) for o in replay_bytes(records)]
    only_a = [r for r in records
              if b'"book":"desk-b"' not in r]
    alone = [orjson.loads(o) for o in replay_bytes(only_a)]
    pick = lambda rows: [r for r in rows if r.get("book") == "desk-a"]  # noqa: E731
    assert pick(alone) == pick(full)


def test_restore_anywhere_in_the_kafka_test_day_is_byte_identical(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The sample day the Kafka tests use (loans, LPs, margin, two oracle sources, hedger):
    a snapshot/restore at several points changes no output byte, risk matrices included."""
    from greekstream.core.engine import Engine
    from greekstream.core.events import encode
    from greekstream.runtime.replay import read_records
    from greekstream.sample.generate import write_sample

    path = tmp_path / "day.jsonl"
    write_sample(path, "kafka-test", seed=5, show_progress=False)
    records = list(read_records(path))
    straight = Engine()
    expected = [encode(o) for raw, src in records for o in straight.handle(raw, src)]
    assert any(b'"risk_matrix"' in e for e in expected)
    n = len(records)
    for cut in (n // 5, n // 2, 4 * n // 5):
        first = Engine()
        got = [encode(o) for raw, src in records[:cut] for o in first.handle(raw, src)]
        restored = Engine()
        restored.restore(first.snapshot())
        got += [encode(o) for raw, src in records[cut:] for o in restored.handle(raw, src)]
        assert got == expected, f"restored at record {cut}"
