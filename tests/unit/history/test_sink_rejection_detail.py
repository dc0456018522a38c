"""A rejection whose `detail` is null is stored as one without it (history/rows.py), real
chDB.

The sink's checks take `detail` as optional (absent or null) and the builder stored an
absent one as '', but passed a null one on as None, which the String column refused
("Invalid None value in non-Nullable column"): the record was quarantined as
clickhouse_refused after its chain row was stored (found by a fuzz of output records
through the writer).
"""

from __future__ import annotations

import orjson
import pytest

from greekstream.history.client import History
from greekstream.history.writer import HistoryWriter

pytestmark = pytest.mark.timeout(120)


def test_a_null_detail_is_stored_as_none(store: History) -> None:
    writer = HistoryWriter(store, max_ts_ahead_s=60)
    for n, detail in enumerate([None, "<absent>", "why"]):
        fields = {"type": "rejected", "event_id": f"r{n}", "ts": None,
                  "reason": "invalid_json", "detail": detail, "source": f"f:{n}",
                  "raw": "x", "prev": "", "hash": f"h{n}"}
        body = orjson.dumps({k: v for k, v in fields.items() if v != "<absent>"})
        assert writer.add_output_json(body, n, "gs.rejected") == "rejected"
    writer.flush("t")
    assert writer.take_quarantined() == []
    assert store.rows("SELECT event_id, detail FROM rejections ORDER BY event_id") == [
        ("r0", ""), ("r1", ""), ("r2", "why")]
