"""An output's hash-chain row takes its time as the table row does (history/rows.py
chain_row), real chDB.

A `rejected` output's ts is not checked (its record may have had no time the engine could
read), so its table row keeps a ts only when it is one the engine accepts (1970..2105,
else ts 0 and has_ts false). Its `output_chain` row took any time it could parse: a
rejection from the output topic dated 9999-12-31, or with an integer ts of 2128 or -1 µs,
was stored in the chain as dated then (has_ts true), disagreeing with its `rejections`
row; the chain's dates are read by `report`/`verify` (a rejection dated 1969 counted in
every day), and a row past 2106 made `history migrate --ttl-days N` refuse every N ('a row
from ? would expire after 2106 ... use at most --ttl-days 0').
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from greekstream.history.client import History
from greekstream.history.migrate import check_ttl
from greekstream.history.writer import HistoryWriter

pytestmark = pytest.mark.timeout(120)


def rejection(n: int, ts: Any) -> bytes:
    return orjson.dumps({
        "type": "rejected", "event_id": f"r{n}", "ts": ts, "reason": "bad_ts",
        "detail": "x", "source": f"greekstream.trades/0/{n}", "raw": "{}", "prev": "",
        "hash": f"h{n}"})


# a time the engine does not accept: no date, in both rows
UNDATED = ["9999-12-31T23:59:59Z", "2150-01-01T00:00:00Z", "1969-12-31T23:00:00Z",
           5_000_000_000_000_000, -1, None]


def test_a_rejection_is_dated_alike_in_its_table_and_chain_rows(store: History) -> None:
    writer = HistoryWriter(store, max_ts_ahead_s=60)
    times = [*UNDATED, "2026-03-01T10:00:00Z"]
    for n, ts in enumerate(times):
        assert writer.add_output_json(rejection(n, ts), n, "greekstream.rejected") == "rejected"
    writer.flush("t")
    table = dict((e, (ts, has)) for e, ts, has in store.rows(
        "SELECT event_id, toUnixTimestamp64Micro(ts), has_ts FROM rejections"))
    chain = dict((e, (ts, has)) for e, ts, has in store.rows(
        "SELECT event_id, toUnixTimestamp64Micro(ts), has_ts FROM output_chain"))
    assert chain == table
    assert {e: v for e, v in chain.items() if v[1]} == {
        f"r{len(UNDATED)}": (1_772_359_200_000_000, True)}
    # every stored time fits a DateTime, so a retention can be set
    check_ttl(store, 30, now_us=time.time_ns() // 1000)
