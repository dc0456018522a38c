"""Ordered, versioned ClickHouse migrations: schemas/clickhouse/NNNN_name.sql.

Each file holds statements separated by ``;`` at line ends. Applying is idempotent:
every statement is ``IF NOT EXISTS`` and ``schema_migrations`` records each applied
version with a checksum, so a changed, already-applied file is reported, not re-run.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from greekstream.errors import HistoryError
from greekstream.history.client import History

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
TABLES_WITH_TTL = (
    "raw_events", "exposures", "breaches", "hedge_intents", "rejections", "risk_matrix", "pnl",
    "var",
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self) -> list[str]:
        body = "\n".join(
            line for line in self.sql.splitlines() if not line.lstrip().startswith("--")
        )
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def migrations_dir() -> Path:
    override = os.environ.get("GREEKSTREAM_MIGRATIONS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "schemas" / "clickhouse"


def load_migrations(directory: Path | None = None) -> list[Migration]:
    folder = directory or migrations_dir()
    if not folder.is_dir():
        raise HistoryError(
            f"no migrations directory at {folder}",
            hint="set GREEKSTREAM_MIGRATIONS_DIR to the schemas/clickhouse folder",
        )
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise HistoryError(f"two migrations share a version in {folder}: {versions}")
    return found


_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations
(version UInt32, name String, checksum String, applied_at DateTime DEFAULT now())
ENGINE = ReplacingMergeTree ORDER BY version"""


def applied_versions(history: History) -> dict[int, str]:
    history.command(_LEDGER)
    rows = history.rows("SELECT version, any(checksum) FROM schema_migrations GROUP BY version")
    return {int(v): str(c) for v, c in rows}


def migrate(history: History, directory: Path | None = None) -> list[Migration]:
    """Apply every migration not yet recorded; return those applied now."""
    done = applied_versions(history)
    applied = []
    for migration in load_migrations(directory):
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise HistoryError(
                    f"migration {migration.version:04d}_{migration.name} changed after it "
                    "was applied",
                    hint="never edit an applied migration; add a new numbered file instead",
                )
            continue
        for statement in migration.statements():
            history.command(statement)
        history.insert(
            "schema_migrations",
            [[migration.version], [migration.name], [migration.checksum]],
            ["version", "name", "checksum"],
        )
        applied.append(migration)
    return applied


def current_version(history: History) -> int:
    return max(applied_versions(history), default=0)


def set_ttl(history: History, days: int | None) -> None:
    """Optional retention on every stored table (None removes it)."""
    for table in TABLES_WITH_TTL:
        if days is None:
            history.command(f"ALTER TABLE {table} REMOVE TTL")
        else:
            history.command(
                f"ALTER TABLE {table} MODIFY TTL toDateTime(ts) + INTERVAL {int(days)} DAY DELETE"
            )


def require_schema(history: History) -> None:
    """Raise a clear error when the database has no greekstream tables yet."""
    tables = {r[0] for r in history.rows("SHOW TABLES")}
    if "schema_migrations" not in tables or "raw_events" not in tables:
        raise HistoryError(
            f"{history.target} has no greekstream schema",
            hint=f"run `greekstream history migrate DSN` against {history.target} first",
        )
