"""A hedge intent without its `basis` (absent or null: the sink's checks let both through,
the column has no Nullable) is stored with the engine's default, `positions`, whichever
way its row is built (history/writer.py, rows.py), real chDB.

The JSONEachRow route stored '' for both (ClickHouse's default for a String), while the
Python row builder (a record whose time has a lower-case "t", an escape) stored
`positions` for an absent one and had a null one refused ("Invalid None value in
non-Nullable column"), so quarantined: the same record stored three ways.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from greekstream.history.client import History
from greekstream.history.writer import HistoryWriter

pytestmark = pytest.mark.timeout(120)


def intent(n: int, ts: str, basis: Any) -> bytes:
    fields = {"type": "hedge_intent", "event_id": f"i{n}", "ts": ts, "intent_id": f"i{n}",
              "book": "b", "underlying": "BTC", "instrument_id": "BTC-PERPETUAL",
              "side": "sell", "quantity": 10, "delta_before": 1.0, "delta_after": 0.0,
              "basis": basis, "caused_by": "c", "prev": "", "hash": f"g{n}"}
    return orjson.dumps({k: v for k, v in fields.items() if v != "<absent>"})


def test_a_missing_basis_is_positions_both_ways(store: History) -> None:
    writer = HistoryWriter(store, max_ts_ahead_s=60)
    cases = [("2026-03-01T10:00:00Z", "<absent>"), ("2026-03-01t10:00:00Z", "<absent>"),
             ("2026-03-01T10:00:00Z", None), ("2026-03-01t10:00:00Z", None),
             ("2026-03-01T10:00:00Z", "equity"), ("2026-03-01t10:00:00Z", "equity")]
    for n, (ts, basis) in enumerate(cases):
        assert writer.add_output_json(intent(n, ts, basis), n, "gs.hedge") == "hedge_intent"
    writer.flush("t")
    assert writer.take_quarantined() == []
    assert store.rows("SELECT event_id, basis FROM hedge_intents ORDER BY event_id") == [
        ("i0", "positions"), ("i1", "positions"), ("i2", "positions"), ("i3", "positions"),
        ("i4", "equity"), ("i5", "equity")]
