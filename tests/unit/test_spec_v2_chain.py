"""SPEC v2 "Hash-chained outputs": recomputed independently from the published bytes,
every output's ``hash`` is SHA-256 hex of ``prev`` + its canonical JSON without ``hash``
(docs/reporting.md: keys sorted, compact, orjson's numbers), ``prev`` is the previous hash
of its book's chain in output order (64 zeros first), and a replay reproduces them all."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import encode
from tests.unit import builders as b

pytestmark = pytest.mark.timeout(60)

RECORDS = [
    b.option("C", 60000), b.perp(), b.index("x0", 0, 60000),
    b.quote_opt("q0", 0, "C", 60000, 0.6), b.quote_mark("m0", 0, "BTC-PERPETUAL", 60000),
    b.limits("l1", 0.01, max_abs_delta=1.0, hedge_instrument="BTC-PERPETUAL", hedge_band=0.5),
    b.trade("t1", 0.02, "C", "buy", 5, price=3000.0, fee=1.0),
    b.trade("t2", 0.03, "C", "sell", 2, book="desk-b", price=3100.0),
    b.quote_opt("q1", 0.05, "C", 61000, 0.61),
    b.trade("bad", 0.06, "NOPE", "buy", 1),
    b.funding("f1", 0.2, "BTC-PERPETUAL", 0.0001),
    b.quote_opt("q2", 0.35, "C", 59000, 0.65),
    b.tick("k1", 0.5),
]


def published(config: EngineConfig) -> list[bytes]:
    engine = Engine(config)
    out = [o for i, raw in enumerate(RECORDS) for o in engine.handle(raw, f"f.jsonl:{i + 1}")]
    return [encode(o) for o in out + engine.flush()]


@pytest.mark.parametrize("emit_ms", [0, 100])
def test_every_hash_recomputes_from_the_published_record(emit_ms: int) -> None:
    lines = published(EngineConfig(emit_interval_ms=emit_ms))
    heads: dict[str, str] = {}
    books = set()
    for line in lines:
        record = orjson.loads(line)
        chain = record.get("book") or f"{record['type']}:{record.get('underlying', '')}"
        books.add(chain)
        assert record["prev"] == heads.get(chain, "0" * 64), record
        body = {k: v for k, v in record.items() if k != "hash"}
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        assert record["hash"] == hashlib.sha256(record["prev"].encode() + canonical).hexdigest()
        heads[chain] = record["hash"]
    assert {"desk-a", "desk-b", "rejected:"} <= books
    assert published(EngineConfig(emit_interval_ms=emit_ms)) == lines  # a replay: the same
