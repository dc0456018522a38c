"""The overview's P&L is the key's last `pnl` output by (ts, emission order), as its
exposure is: two outputs at one ts (two events of the same microsecond) gave either
(``argMax`` by ts alone keeps the first row it reads, in event_id order). On chDB."""

from __future__ import annotations

from pathlib import Path

from greekstream.api.overview import latest_pnl
from greekstream.history.client import connect
from greekstream.history.migrate import migrate

AT = 1_772_323_205_000_000  # 2026-03-01T00:00:05Z


def test_the_latest_pnl_of_a_key_is_the_last_emitted_at_its_ts(tmp_path: Path) -> None:
    with connect(f"chdb://{tmp_path}", create=True) as history:
        migrate(history)
        # the later output (seq 2) has the event_id read second
        history.command(
            "INSERT INTO pnl VALUES "
            "('a1', '2026-03-01 00:00:05', 'desk-a', 'BTC', 1, 0, 0, 0, 1, 'x', 1), "
            "('b2', '2026-03-01 00:00:05', 'desk-a', 'BTC', 2, 0, 0, 0, 2, 'y', 2), "
            "('c0', '2026-03-01 00:00:05', 'desk-b', 'BTC', 3, 0, 0, 0, 3, 'y', 4), "
            "('d9', '2026-03-01 00:00:05', 'desk-b', 'BTC', 4, 0, 0, 0, 4, 'x', 3), "
            "('e5', '2026-03-01 00:00:04', 'desk-b', 'BTC', 9, 0, 0, 0, 9, 'x', 9)")
        found = latest_pnl(history, ["desk-a", "desk-b"], AT)
    assert found[("desk-a", "BTC")]["total_usd"] == 2.0
    assert found[("desk-b", "BTC")]["total_usd"] == 3.0  # an earlier ts loses, seq or not
