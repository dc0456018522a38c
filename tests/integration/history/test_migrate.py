"""`greekstream history migrate|status|books` on real chDB: idempotent migrations that
record their version, a refused edit of an applied migration, the optional TTL."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from greekstream.cli import main
from greekstream.errors import HistoryError
from greekstream.history import connect
from greekstream.history.migrate import TABLES_WITH_TTL, load_migrations, migrate, migrations_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def table_ddl(dsn: str, table: str) -> str:
    with connect(dsn) as history:
        return str(history.rows(f"SHOW CREATE TABLE {table}")[0][0])


def test_migrate_is_idempotent_and_records_the_version(
    dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    latest = load_migrations()[-1].version
    assert main(["history", "migrate", dsn]) == 0
    first = capsys.readouterr().out
    assert f"schema version {latest}" in first and "0001_raw_events" in first
    assert main(["history", "migrate", dsn]) == 0
    assert "nothing to apply" in capsys.readouterr().out
    with connect(dsn) as history:
        ledger = history.rows("SELECT version, name, checksum FROM schema_migrations FINAL "
                              "ORDER BY version")
        tables = {r[0] for r in history.rows("SHOW TABLES")}
    assert ledger == [(m.version, m.name, m.checksum) for m in load_migrations()]
    assert {"raw_events", "exposures", "breaches", "hedge_intents", "rejections", "risk_matrix",
            "exposure_1m", "exposure_1h", "exposure_1d"} <= tables

    assert main(["history", "status", dsn]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["schema_version"] == latest and status["first_event"] is None
    assert set(status["rows"]) == set(TABLES_WITH_TTL)


def test_an_edited_applied_migration_is_refused(dsn: str, tmp_path: Path) -> None:
    shutil.copytree(migrations_dir(), tmp_path / "m")
    with connect(dsn, create=True) as history:
        migrate(history, tmp_path / "m")
        edited = tmp_path / "m" / "0002_outputs.sql"
        edited.write_text(edited.read_text() + "\n-- an edit\n")
        with pytest.raises(HistoryError, match="0002_outputs changed after it was applied"):
            migrate(history, tmp_path / "m")
        (tmp_path / "m" / "0099_more.sql").write_text(
            "CREATE TABLE IF NOT EXISTS more (x UInt8) ENGINE = MergeTree ORDER BY x;\n")
        edited.write_text(edited.read_text().replace("\n-- an edit\n", ""))
        assert [m.version for m in migrate(history, tmp_path / "m")] == [99]


def test_a_store_migrated_before_a_comment_only_edit_migrates_on(
    dsn: str, tmp_path: Path
) -> None:
    """0010's first comment changed after release (it named a document outside the
    repository); a store that applied the earlier text is not refused for it."""
    shutil.copytree(migrations_dir(), tmp_path / "m")
    pnl = tmp_path / "m" / "0010_pnl.sql"
    now = pnl.read_text()
    before = now.replace('(docs/contract.md "Mark-to-market P&L")',
                         '(SPEC.md "Mark-to-market P&L")')
    assert before != now
    pnl.write_text(before)
    with connect(dsn, create=True) as history:
        migrate(history, tmp_path / "m")
        pnl.write_text(now)
        assert migrate(history, tmp_path / "m") == []  # accepted, nothing re-applied
        pnl.write_text(now.replace("-- ", "-- edited ", 1))  # any other edit is refused
        with pytest.raises(HistoryError, match="0010_pnl changed after it was applied"):
            migrate(history, tmp_path / "m")


def test_ttl_option_sets_and_keeps_retention(
    dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "migrate", dsn, "--ttl-days", "400"]) == 0
    capsys.readouterr()
    for table in TABLES_WITH_TTL:
        assert "TTL toDateTime(ts) + toIntervalDay(400)" in table_ddl(dsn, table), table
    assert main(["history", "migrate", dsn]) == 0  # re-running without --ttl-days keeps it
    assert "toIntervalDay(400)" in table_ddl(dsn, "exposures")
    assert main(["history", "migrate", dsn, "--ttl-days", "0"]) == 2
    assert "--ttl-days must be a positive number" in capsys.readouterr().err


def test_status_and_books_of_a_filled_history(
    stored: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "books", stored]) == 0
    assert {"desk-a", "desk-b"} <= set(json.loads(capsys.readouterr().out))
    assert main(["history", "status", stored]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["first_event"] < status["last_event"]
    assert status["rows"]["raw_events"] > 5000 and status["rows"]["risk_matrix"] > 0


def test_a_ttl_that_would_wrap_past_2106_is_refused_and_nothing_changes(
    dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """toDateTime(ts) + 30000 days wraps past 2106 to 1970: every row would expire now."""
    assert main(["history", "migrate", dsn]) == 0
    capsys.readouterr()
    assert main(["history", "migrate", dsn, "--ttl-days", "30000"]) == 2
    out, err = capsys.readouterr()
    assert "nothing to apply" not in out
    assert "--ttl-days 30000 is too long" in err and "2106-02-07" in err
    most = int(re.search(r"use at most --ttl-days (\d+)", err)[1])  # from today's date
    assert 20_000 < most < 30_000
    for table in TABLES_WITH_TTL:
        assert " TTL " not in table_ddl(dsn, table), table
    assert main(["history", "migrate", dsn, "--ttl-days", "100000000"]) == 2
    assert "beyond what ClickHouse's DateTime can hold" in capsys.readouterr().err
    assert main(["history", "migrate", dsn, "--ttl-days", "3650"]) == 0
    out = capsys.readouterr().out
    assert "nothing to apply" not in out and "expire 3650 days after their ts" in out
    assert "toIntervalDay(3650)" in table_ddl(dsn, "exposures")


def test_status_describes_times_the_engine_could_not_have_written(
    dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from greekstream.history.rows import RAW, ArrivalClocks, raw_row

    with connect(dsn, create=True) as history:
        migrate(history)
        good = b'{"type":"index","event_id":"e","ts":"2026-03-01T00:00:00Z","underlying":"BTC",' \
            b'"price":1}'
        late = good.replace(b"2026-03-01", b"2200-01-01").replace(b'"e"', b'"f"')
        clocks = ArrivalClocks()
        rows = [list(raw_row(good, "f.jsonl:1", clocks)), list(raw_row(late, "f.jsonl:2", clocks))]
        # a record the engine rejects for its time is stored at its stream's clock
        assert rows[1][3] == rows[0][3] and rows[1][13] is False
        for i, ts in enumerate((2**62, -(2**62))):  # as an older writer could have stored
            row = list(raw_row(good, f"old.jsonl:{i}", ArrivalClocks()))
            row[3] = row[4] = ts
            rows.append(row)
        history.insert("raw_events", [list(c) for c in zip(*rows, strict=True)], RAW.columns)
    assert main(["history", "status", dsn]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["first_event"].startswith("out of range: -4611686018427387904")
    assert status["last_event"].startswith("out of range: 4611686018427387904")
    assert status["rows"]["raw_events"] == 4


def test_a_store_migrated_by_a_newer_greekstream_is_refused(
    dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """schema_migrations is the store's version marker: a writer that does not know every
    applied migration (an older release: a sink, a replay into history) would store rows
    without the newer columns, so it stops with what to do instead."""
    shutil.copytree(migrations_dir(), tmp_path / "newer")
    (tmp_path / "newer" / "9001_later.sql").write_text(
        "CREATE TABLE IF NOT EXISTS later (x UInt8) ENGINE = MergeTree ORDER BY x;\n")
    with connect(dsn, create=True) as history:
        assert [m.version for m in migrate(history, tmp_path / "newer")][-1] == 9001
        with pytest.raises(HistoryError, match="9001 that this greekstream does not know") as exc:
            migrate(history)  # the shipped migrations: they stop before 9001
        assert "upgrade greekstream" in (exc.value.hint or "")
    assert main(["history", "migrate", dsn]) != 0
    assert "9001" in capsys.readouterr().err
