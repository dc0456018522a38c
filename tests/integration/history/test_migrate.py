"""`greekstream history migrate|status|books` on real chDB: idempotent migrations that
record their version, a refused edit of an applied migration, the optional TTL."""

from __future__ import annotations

import json
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
