"""Ordered, versioned ClickHouse migrations: schemas/clickhouse/NNNN_name.sql.

They ship as package data: ``greekstream/history/migrations`` is a symlink to
``schemas/clickhouse`` in the repository, and a wheel holds the files themselves, so an
installed greekstream (wheel, ``pip install .``, the image) finds them next to this module.

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
    "output_chain", "regimes", "intent_status",
)


# Migrations whose text changed after release in comments only (no statement changed):
# version -> {checksum a store recorded for the earlier text: the checksum of the text it
# became}. A store that applied the earlier text accepts exactly that new text.
# 0010: its first comment named a document outside the repository (now docs/contract.md).
COMMENT_EDITS: dict[int, dict[str, str]] = {10: {"92fcae53e6a3e2fa": "8b0454be9c71985a"}}


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
    return Path(__file__).parent / "migrations"


def load_migrations(directory: Path | None = None) -> list[Migration]:
    folder = directory or migrations_dir()
    if not folder.is_dir():
        raise HistoryError(
            f"no migrations directory at {folder}",
            hint="reinstall greekstream (its wheel holds greekstream/history/migrations), "
            "or set GREEKSTREAM_MIGRATIONS_DIR to a schemas/clickhouse folder",
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
    known = load_migrations(directory)
    newer = sorted(set(done) - {m.version for m in known})
    if newer:  # a newer greekstream migrated this store: its writers would miss columns
        raise HistoryError(
            f"this store has schema migration(s) {', '.join(f'{v:04d}' for v in newer)} that "
            f"this greekstream does not know (it knows up to "
            f"{max((m.version for m in known), default=0):04d}): a newer greekstream "
            "migrated it",
            hint="upgrade greekstream to the release that migrated this store (`greekstream "
            "history status DSN` shows its schema_version), or use another store",
        )
    applied = []
    for migration in known:
        if migration.version in done:
            recorded = done[migration.version]
            edited_to = COMMENT_EDITS.get(migration.version, {}).get(recorded, recorded)
            if edited_to != migration.checksum:
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
    keep_undated(history)
    return applied


def current_version(history: History) -> int:
    return max(applied_versions(history), default=0)


# The TTL expression is toDateTime(ts) + N days: a ClickHouse DateTime (unsigned 32-bit
# seconds). Past 2106-02-07T06:28:15Z it wraps to 1970, and every row expires at once.
DATETIME_MAX_US = (2**32 - 1) * 1_000_000
DAY_US = 86_400 * 1_000_000


def max_ttl_days(latest_us: int) -> int:
    """The longest retention whose expiry of a row at ``latest_us`` still fits a DateTime."""
    return max(0, (DATETIME_MAX_US - latest_us) // DAY_US)


def check_ttl(history: History, days: int, now_us: int) -> None:
    """Refuse a retention that would wrap past 2106 for the newest row stored (or now)."""
    rows = history.rows(
        "SELECT max(m) FROM (" + " UNION ALL ".join(
            f"SELECT toUnixTimestamp64Micro(max(ts)) AS m FROM {t}" for t in TABLES_WITH_TTL
        ) + ")"
    )
    stored = int(rows[0][0]) if rows and rows[0][0] is not None else 0
    latest = max(stored, now_us)
    limit = max_ttl_days(latest)
    if limit == 0:  # a stored row an older greekstream dated past 2106 (9999, say)
        raise HistoryError(
            f"--ttl-days {days}: no retention can be set on this store: a stored row is "
            f"dated {_time(latest)}, past 2106-02-07, what ClickHouse's DateTime holds, so "
            "its expiry would wrap to 1970 and every row would be deleted at once",
            hint="an older greekstream stored it; find it with `SELECT * FROM TABLE WHERE "
            "ts > '2106-02-07'` (tables: " + ", ".join(TABLES_WITH_TTL) + ") and delete it "
            "(ALTER TABLE TABLE DELETE WHERE ...), or keep every row (no --ttl-days)",
        )
    if days > limit:
        raise HistoryError(
            f"--ttl-days {days} is too long: a row from {_day(latest)} would expire after "
            "2106-02-07, past what ClickHouse's DateTime holds, so its expiry would wrap to "
            "1970 and every row would be deleted at once",
            hint=f"use at most --ttl-days {limit:,}".replace(",", ""),
        )


def _time(micros: int) -> str:
    from greekstream.core.timeutil import format_ts

    try:
        return format_ts(micros)
    except (OverflowError, ValueError):
        return f"{micros} µs since 1970"


def _day(micros: int) -> str:
    from greekstream.core.timeutil import format_ts

    return format_ts(micros - micros % DAY_US)[:10] if 0 <= micros <= DATETIME_MAX_US else "?"


# A row with no event time is stored at the epoch (a rejection of a record that is not
# JSON, has_ts false; a record that does not decode first on its stream, whose clock is
# still 0): it has no age, and a TTL on its ts expired it in 1970 + N days, so ClickHouse
# dropped it at the insert. Those rows are kept.
DATED = "ts != toDateTime64(0, 6, 'UTC')"


# a retention set before undated rows were kept (engine_full as ClickHouse writes it)
_TTL_DROPPING_UNDATED = re.compile(r"TTL toDateTime\(ts\) \+ toIntervalDay\((\d+)\)(?! WHERE)")


def keep_undated(history: History) -> None:
    """Give a retention an older greekstream set (``toDateTime(ts) + N days`` on every
    row) the kept undated rows (:data:`DATED`), N unchanged: run by every migrate (the
    sink's start too), it changes nothing once done."""
    rows = history.rows(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() "
        "AND name IN {names:Array(String)}", {"names": list(TABLES_WITH_TTL)})
    for table, engine in rows:
        found = _TTL_DROPPING_UNDATED.search(str(engine))
        if found:
            _modify_ttl(history, str(table), int(found[1]))


def _modify_ttl(history: History, table: str, days: int) -> None:
    history.command(f"ALTER TABLE {table} MODIFY TTL toDateTime(ts) + INTERVAL {days} DAY "
                    f"DELETE WHERE {DATED}")


def set_ttl(history: History, days: int | None) -> None:
    """Optional retention on every stored table (None removes it): each dated row expires
    ``days`` after its ts, a row with none (:data:`DATED`) never; see :func:`check_ttl`."""
    for table in TABLES_WITH_TTL:
        if days is None:
            history.command(f"ALTER TABLE {table} REMOVE TTL")
        else:
            _modify_ttl(history, table, int(days))


def require_schema(history: History) -> set[str]:
    """Raise a clear error when the database has no greekstream tables yet; returns its
    tables (:meth:`History.tables`)."""
    tables = history.tables()
    if "schema_migrations" not in tables or "raw_events" not in tables:
        raise HistoryError(
            f"{history.target} has no greekstream schema",
            hint=f"run `greekstream history migrate DSN` against {history.target} first",
        )
    return tables
