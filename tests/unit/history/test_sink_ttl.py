"""A retention (`history migrate --ttl-days N`) keeps the rows that have no date (history/
migrate.py set_ttl), real chDB.

The TTL was `toDateTime(ts) + N days` on every table. A row with no event time is stored at
the epoch: a rejection of a record that is not JSON (`has_ts` false, in `rejections` and
in `output_chain`) and a record that does not decode first on its partition (its
stream's clock is still 0, in `raw_events`). Those expired in 1970 + N days: ClickHouse
dropped them at the insert, so with any retention set the sink stored none of them (it
counted them stored and committed past them), and `verify`/`audit` found the market
chain and the rejections short. Dated rows still expire.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest

from greekstream.cli import main
from greekstream.core.timeutil import format_ts
from greekstream.history.client import History, connect
from greekstream.history.writer import HistoryWriter

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("chdb"))  # one chDB engine (path) per process


@pytest.fixture(scope="module")
def store(folder: str) -> Iterator[History]:
    dsn = f"chdb://{folder}"
    assert main(["history", "migrate", dsn, "--ttl-days", "400"]) == 0
    with connect(dsn) as history:
        yield history


def rejection(n: int, ts: str | None, prev: str) -> bytes:
    return orjson.dumps({
        "type": "rejected", "event_id": f"r{n}", "ts": ts, "reason": "invalid_json",
        "detail": "x", "source": f"greekstream.trades/0/{n}", "raw": "not json",
        "prev": prev, "hash": f"h{n}"})


def test_undated_rows_are_kept_and_dated_ones_still_expire(store: History) -> None:
    today = format_ts(time.time_ns() // 1000 // 86_400_000_000 * 86_400_000_000)
    writer = HistoryWriter(store, max_ts_ahead_s=60, resume_streams=True)
    writer.add_output_json(rejection(0, None, ""), 0, "greekstream.rejected")  # undated
    writer.add_output_json(rejection(1, today, "h0"), 1, "greekstream.rejected")
    writer.add_output_json(rejection(2, "2020-01-01T00:00:00Z", "h1"), 2,
                           "greekstream.rejected")  # past the retention
    writer.add_record(b"not json", "greekstream.trades/0/0")  # first on its partition
    writer.add_record(b"not json either", "greekstream.trades/1/0")
    writer.add_record(
        b'{"type":"trade","event_id":"t1","ts":"%s","book":"desk"}' % today.encode(),
        "greekstream.trades/1/1")
    writer.flush("t")
    for table in ("rejections", "output_chain", "raw_events"):
        store.command(f"OPTIMIZE TABLE {table} FINAL")  # merges apply the TTL
    assert sorted(store.rows("SELECT event_id, has_ts FROM rejections")) == [
        ("r0", False), ("r1", True)]
    assert sorted(store.rows("SELECT event_id, has_ts FROM output_chain")) == [
        ("r0", False), ("r1", True)]
    assert sorted(store.rows("SELECT source, decoded FROM raw_events")) == [
        ("greekstream.trades/0/0", False), ("greekstream.trades/1/0", False),
        ("greekstream.trades/1/1", True)]


def test_migrate_keeps_undated_rows_under_a_retention_set_before(folder: str) -> None:
    """A store whose retention an older greekstream set (no WHERE) is given the kept
    undated rows by the next migrate (the sink runs it at every start), its N unchanged;
    a store without a retention gets none."""
    from greekstream.history.migrate import TABLES_WITH_TTL, migrate

    with connect(f"chdb://{folder}?database=older", create=True) as history:
        migrate(history)
        for table in TABLES_WITH_TTL[:-1]:
            history.command(f"ALTER TABLE {table} MODIFY TTL toDateTime(ts) + "
                            "INTERVAL 400 DAY DELETE")
        migrate(history)
        engines = dict(history.rows(
            "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()"))
        for table in TABLES_WITH_TTL[:-1]:
            assert ("TTL toDateTime(ts) + toIntervalDay(400) WHERE ts != "
                    "toDateTime64(0, 6, 'UTC')") in engines[table], engines[table]
        assert "TTL" not in engines[TABLES_WITH_TTL[-1]]
        writer = HistoryWriter(history, max_ts_ahead_s=60)
        writer.add_output_json(rejection(0, None, ""), 0, "greekstream.rejected")
        writer.flush("t")
        assert history.rows("SELECT count() FROM output_chain") == [(1,)]


def test_a_store_holding_a_row_past_2106_says_no_retention_can_be_set(
        folder: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A chain row an older sink dated 9999 (a rejection's ts, before 7f1a06a): the
    refusal said 'a row from ? would expire after 2106 ... use at most --ttl-days 0', a
    value --ttl-days refuses; it names the time and says how to find the row."""
    dsn = f"chdb://{folder}?database=far"
    assert main(["history", "migrate", dsn]) == 0
    with connect(dsn) as history:
        history.command("INSERT INTO output_chain (event_id, type, ts, has_ts, hash) "
                        "VALUES ('r9', 'rejected', '9999-12-31 23:59:59', true, 'h')")
    capsys.readouterr()
    assert main(["history", "migrate", dsn, "--ttl-days", "30"]) == 2
    err = capsys.readouterr().err
    assert "no retention can be set" in err and "9999-12-31T23:59:59Z" in err, err
    assert "at most --ttl-days 0" not in err and "ts > '2106-02-07'" in err
