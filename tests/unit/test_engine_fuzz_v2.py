"""Found by fuzzing the v2 inputs and the edges of what the door accepts (helper 45):
each test failed before its fix."""

from __future__ import annotations

import orjson
import pytest

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import MAX_RECORD_BYTES, encode
from tests.unit import builders as b


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
    records = [*[b.perp()], b.index("x0", 1, 61000), b.quote_mark("m0", 2, "BTC-PERPETUAL", 61000),
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
