"""Found by fuzzing the v2 inputs and the edges of what the door accepts (helper 45):
each test failed before its fix."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import MAX_RECORD_BYTES, encode
from tests.unit import builders as b
from tests.unit.test_engine_properties import INSTRUMENTS


def _padded(record: dict[str, object]) -> bytes:
    """``record`` written compactly with its ``tx_hash`` padded so that the whole record is
    exactly MAX_RECORD_BYTES, the longest input the decoder accepts. Its numbers are
    written as JSON integers: the engine writes them back as floats (``1.0``), longer."""
    raw = orjson.dumps({**record, "tx_hash": ""})
    return orjson.dumps({**record, "tx_hash": "x" * (MAX_RECORD_BYTES - len(raw))})


ONCHAIN_AT_THE_SIZE_LIMIT = {
    "collateral": dict(book="desk-a", asset="BTC", amount=2),
    "loan": dict(book="desk-a", position_id="p1", protocol="aave", collateral_asset="BTC",
                 collateral_amount=3, debt_asset="USD", debt_amount=50000,
                 liquidation_threshold=0.8, liquidation_bonus=0, close_factor=1),
    "lp_position": dict(book="desk-a", position_id="lp1", pool="uni", base="BTC",
                        liquidity=1000, price_lower=50000, price_upper=70000),
}


@pytest.mark.parametrize("kind", sorted(ONCHAIN_AT_THE_SIZE_LIMIT))
@pytest.mark.parametrize("emit_ms", [0, 100])
def test_an_onchain_record_at_the_size_limit_survives_a_snapshot(kind: str, emit_ms: int) -> None:
    """An on-chain record of exactly 900,000 bytes (a long tx_hash) is valid and applied.
    The snapshot keeps it (a reorg may retract it) re-encoded, a few bytes longer (its
    integers written as floats): restore decoded it with the wire's size limit and
    raised, so a checkpoint taken after it could never be loaded (and a rollback from
    a journal base holding it raised out of handle)."""
    raw = _padded({"type": kind, "event_id": "big", "ts": b.ts(5), "chain": "eth",
                   "block_number": 7, **ONCHAIN_AT_THE_SIZE_LIMIT[kind]})
    assert len(raw) == MAX_RECORD_BYTES
    records = [b.perp(), b.index("x0", 1, 61000), b.quote_mark("m0", 2, "BTC-PERPETUAL", 61000),
               b.trade("t0", 3, "BTC-PERPETUAL", "buy", 100), raw,
               b.index("x1", 6, 60000), b.rec("reorg", "r1", 7, chain="eth", from_block=7),
               b.index("x2", 8, 59000)]
    config = EngineConfig(emit_interval_ms=emit_ms)
    straight = Engine(config)
    expected = [encode(o) for i, r in enumerate(records) for o in straight.handle(r, f"s:{i}")]
    expected += [encode(o) for o in straight.flush()]
    assert not any(b'"rejected"' in e for e in expected)
    cut = records.index(raw) + 1
    first = Engine(config)
    got = [encode(o) for i, r in enumerate(records[:cut]) for o in first.handle(r, f"s:{i}")]
    restored = Engine(config)
    restored.restore(first.snapshot())
    got += [encode(o) for i, r in enumerate(records[cut:], cut)
            for o in restored.handle(r, f"s:{i}")]
    got += [encode(o) for o in restored.flush()]
    assert got == expected


# ----------------------------------------------------------------------------- property

IDS = ["C60", "P55", "LC70", "SHORT", "BTC-PERPETUAL", "BTC-USDC-PERP", "BTC-FUT", "BTC-SPOT"]
PRICES = st.floats(40_000, 80_000) | st.sampled_from([1e-12, 1e-6, 1e12])


@st.composite
def v2_streams(draw: st.DrawFn) -> list[bytes]:
    """The v2 inputs among each other: two oracle sources, funding, margins, limits with
    regime scales and hedges, collateral and reorgs, ticks and the gateway's window ticks,
    an option expiring mid-stream, prices near the door's bounds."""
    out = [*INSTRUMENTS, b.index("x0", 1, 61_000)]
    t, block = 1.0, 1
    for i in range(draw(st.integers(5, 40))):
        t += draw(st.sampled_from([0.001, 0.0999, 0.1, 1.0, 60.0, 600.0]))
        kind = draw(st.sampled_from(["quote", "quote", "index", "trade", "trade", "funding",
                                     "limits", "margin", "coll", "reorg", "tick"]))
        iid, book = draw(st.sampled_from(IDS)), draw(st.sampled_from(["desk-a", "desk-b"]))
        if kind == "quote" and iid in IDS[:4]:
            out.append(b.quote_opt(f"q{i}", t, iid, draw(PRICES),
                                   draw(st.sampled_from([1e-12, 0.6, 1e6]))))
        elif kind == "quote":
            out.append(b.quote_mark(f"q{i}", t, iid, draw(PRICES)))
        elif kind == "index":
            out.append(b.rec("index", f"x{i}", t, underlying="BTC", price=draw(PRICES),
                             **draw(st.sampled_from([{}, {"source": "A"}, {"source": "B"}]))))
        elif kind == "trade":
            out.append(b.trade(f"t{i}", t, iid, draw(st.sampled_from(["buy", "sell"])),
                               draw(st.sampled_from([1e-12, 1.0, 7.0, 1e15])), book=book,
                               price=draw(PRICES)))
        elif kind == "funding":
            out.append(b.funding(f"f{i}", t, draw(st.sampled_from(IDS[4:6])),
                                 draw(st.sampled_from([-1e15, -0.01, 1e-4, 1e15]))))
        elif kind == "limits":
            out.append(b.limits(f"l{i}", t, book=book, max_abs_delta=1.0,
                                hedge_instrument=draw(st.sampled_from(IDS)),
                                hedge_band=draw(st.sampled_from([0.0, 0.5])),
                                hedge_basis=draw(st.sampled_from(["positions", "equity"])),
                                hedge_timeout_s=draw(st.sampled_from([1e-12, 1.0, 1e15])),
                                regime_scale={"calm": 1e-12, "normal": 0.5, "stressed": 1e15},
                                min_liq_distance=0.1))
        elif kind == "margin":
            out.append(b.rec("margin", f"m{i}", t, book=book, underlying="BTC",
                             equity=draw(st.sampled_from([-1e15, 1e5])),
                             maintenance_margin=2e4))
        elif kind == "coll":
            block += draw(st.integers(0, 2))
            out.append(b.rec("collateral", f"c{i}", t, book=book, asset="BTC",
                             amount=draw(st.sampled_from([-1e15, 3.0, 1e15])), chain="eth",
                             block_number=block))
        elif kind == "reorg":
            out.append(b.rec("reorg", f"r{i}", t, chain="eth", from_block=block))
        else:
            out.append(b.tick(draw(st.sampled_from([f"k{i}", f"gs-window-{i}"])), t))
    return out


CONFIGS = [EngineConfig(emit_interval_ms=0), EngineConfig(),
           EngineConfig(windows_per_book=True, revaluation_interval_s=1, risk_interval_s=1)]


def _replay(records: list[bytes], config: EngineConfig, cut: int | None = None) -> list[bytes]:
    engine, out = Engine(config), []
    for i, raw in enumerate(records):
        if i == cut:
            engine, blob = Engine(config), engine.snapshot()
            engine.restore(blob)
        for o in engine.handle(raw, f"s:{i}"):
            assert not (o.type == "rejected" and o.reason in ("internal_error",
                                                              "non_finite_result")), o
            out.append(encode(o))
    return out + [encode(o) for o in engine.flush()]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(v2_streams(), st.sampled_from(CONFIGS), st.data())
def test_v2_inputs_never_fail_and_a_restore_anywhere_continues_identically(
    records: list[bytes], config: EngineConfig, data: st.DataObject
) -> None:
    expected = _replay(records, config)
    assert _replay(records, config, cut=data.draw(st.integers(0, len(records)))) == expected
