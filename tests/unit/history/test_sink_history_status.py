"""`greekstream history status` describes a store migrated by an older greekstream (commands/
history.py), real chDB.

It counted the rows of every table today's schema has, so a store whose migrations stop
before a table (0003: no pnl, var, output_chain, regimes, intent_status) failed with
"query failed ... Unknown table expression identifier 'pnl'" (exit 2), where its
quarantine counts already said null for such a store: status is what one runs to see a
store before migrating it. A table the store lacks is counted null now.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from greekstream.cli import main
from greekstream.history.migrate import TABLES_WITH_TTL, migrations_dir

pytestmark = pytest.mark.timeout(120)


def test_status_of_a_store_migrated_before_some_tables(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    older = tmp_path / "migrations"
    older.mkdir()
    for path in sorted(migrations_dir().glob("000[123]_*.sql")):
        shutil.copy(path, older)
    dsn = f"chdb://{tmp_path / 'store'}"
    monkeypatch.setenv("GREEKSTREAM_MIGRATIONS_DIR", str(older))
    assert main(["history", "migrate", dsn]) == 0
    monkeypatch.delenv("GREEKSTREAM_MIGRATIONS_DIR")
    capsys.readouterr()
    assert main(["history", "status", dsn]) == 0, capsys.readouterr().err
    status = json.loads(capsys.readouterr().out)
    assert status["schema_version"] == 3
    missing = {"pnl", "var", "output_chain", "regimes", "intent_status"}
    assert status["rows"] == {t: None if t in missing else 0 for t in TABLES_WITH_TTL}
    assert status["quarantined_outputs"] is None and status["quarantined_inputs"] is None
