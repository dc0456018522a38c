"""An output whose times are RFC 3339 with a lower-case "t" or "z" is stored as its rows
(history/writer.py add_output_json), real chDB.

The contract's times are RFC 3339, whose "T" and "Z" may be lower case (parse_ts and the
sink's checks take them). The writer hands exposures, breaches, hedge intents and P&Ls to
ClickHouse as JSONEachRow, and ClickHouse's time parser refuses a lower-case "t" or "z"
(Code 41, "Cannot read DateTime: unexpected alphabetical character"), and so a time with
a JSON escape in it ("10:00:00\\u005A", Code 27): a record the checks had passed was
quarantined as clickhouse_refused, its chain row stored without its table row (audit: the
output missing). Such a record now goes through the Python row builder.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from greekstream.history.client import History
from greekstream.history.writer import HistoryWriter

pytestmark = pytest.mark.timeout(120)


def exposure(n: int, ts: str) -> dict[str, Any]:
    return {"type": "exposure", "event_id": f"e{n}", "ts": ts, "book": "b",
            "underlying": "BTC", "delta": 0.5, "delta_equity": 0.5, "gamma": 0.0, "vega": 0.0,
            "theta": 0.0, "delta_usd": None, "positions": 1, "caused_by": "c", "stale": False,
            "oracle_divergence": False, "prev": "", "hash": f"h{n}"}


def intent(n: int, ts: str, expires_at: str) -> dict[str, Any]:
    return {"type": "hedge_intent", "event_id": f"i{n}", "ts": ts, "intent_id": f"i{n}",
            "book": "b", "underlying": "BTC", "instrument_id": "BTC-PERPETUAL",
            "side": "sell", "quantity": 10, "delta_before": 1.0, "delta_after": 0.0,
            "basis": "positions", "caused_by": "c", "reference_price": 1.0,
            "limit_price": 1.0, "est_cost_usd": 0.1, "expires_at": expires_at, "prev": "",
            "hash": f"g{n}"}


TEN = 1_772_359_200_000_000  # 2026-03-01T10:00:00Z


def test_lower_case_t_and_z_are_stored_as_rows(store: History) -> None:
    writer = HistoryWriter(store, max_ts_ahead_s=60)
    records = [
        exposure(0, "2026-03-01t10:00:00z"),
        exposure(1, "2026-03-01T10:00:00z"),
        exposure(2, "2026-03-01t11:00:00+01:00"),
        exposure(3, "2026-03-01T10:00:00Z"),  # the engine's own form, for comparison
        intent(4, "2026-03-01T10:00:00Z", "2026-03-01t10:00:30Z"),
    ]
    bodies = [orjson.dumps(record) for record in records]
    bodies.append(orjson.dumps(exposure(5, "2026-03-01T10:00:00Z")).replace(
        b'10:00:00Z"', b'10:00:00\\u005A"'))  # an escaped "Z"
    for n, body in enumerate(bodies):
        assert writer.add_output_json(body, n, "greekstream.out") == orjson.loads(body)["type"]
    writer.flush("t")
    assert writer.take_quarantined() == []
    assert store.rows("SELECT count() FROM output_quarantine") == [(0,)]
    assert store.rows("SELECT event_id, toUnixTimestamp64Micro(ts), seq FROM exposures "
                      "ORDER BY event_id") == [("e0", TEN, 0), ("e1", TEN, 1), ("e2", TEN, 2),
                                               ("e3", TEN, 3), ("e5", TEN, 5)]
    assert store.rows("SELECT toUnixTimestamp64Micro(ts), "
                      "toUnixTimestamp64Micro(expires_at) FROM hedge_intents") == [
        (TEN, TEN + 30_000_000)]
