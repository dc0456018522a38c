"""core/chain.py: the hash covers the record's wire JSON, whatever float it carries."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.chain import GENESIS, Chains, canonical_json, record_hash, wire_fields
from greekstream.core.events import Exposure, Pnl

finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(numbers=st.lists(finite, min_size=8, max_size=8), ts=st.integers(0, 2**62 // 1000),
       name=st.text(min_size=1, max_size=12), positions=st.integers(0, 10**6))
def test_the_fields_hashed_are_the_records_json(
    numbers: list[float], ts: int, name: str, positions: int
) -> None:
    exposure = Exposure(event_id=name, ts=ts, book=name, underlying="BTC", delta=numbers[0],
                        delta_equity=numbers[1], gamma=numbers[2], vega=numbers[3],
                        theta=numbers[4], delta_usd=numbers[5], positions=positions,
                        caused_by=name, vanna=numbers[6], volga=numbers[7])
    pnl = Pnl(event_id=name, ts=ts, book=name, underlying="ETH", realized_usd=numbers[0],
              unrealized_usd=numbers[1], fees_usd=numbers[2], funding_usd=numbers[3],
              total_usd=numbers[4], caused_by=name)
    linked = Chains().link([exposure, pnl], "x.quotes/0/7")
    # one book, one chain: the P&L follows the exposure (an `or` of the two let a chain
    # that never moved, every record at GENESIS, pass; and an empty list passed the loop)
    assert [(r.type, r.prev) for r in linked] == [("exposure", GENESIS), ("pnl", exposure.hash)]
    for record in linked:
        wire = orjson.loads(record.model_dump_json())
        assert wire_fields(record) == wire
        assert canonical_json(wire_fields(record)) == canonical_json(wire)  # byte for byte
        assert record.hash == record_hash(record.prev, canonical_json(wire))
        assert "hash" not in orjson.loads(canonical_json(wire)) and "hash" in wire
