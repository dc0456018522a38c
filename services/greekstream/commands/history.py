"""`greekstream history`: manage the ClickHouse history store (migrate, status, books)."""

from __future__ import annotations

import argparse
import time

from greekstream.commands._common import print_json
from greekstream.core.guards import TS_RANGE_TEXT, ts_in_range
from greekstream.core.timeutil import format_ts
from greekstream.errors import UsageError
from greekstream.history.asof import history_span
from greekstream.history.client import History, connect
from greekstream.history.migrate import (
    TABLES_WITH_TTL,
    check_ttl,
    current_version,
    max_ttl_days,
    migrate,
    require_schema,
    set_ttl,
)
from greekstream.history.replay_io import known_books

HELP = "manage the ClickHouse history: apply migrations, show status, list books"
EXAMPLES = """  greekstream history migrate chdb://$PWD/gs
  greekstream replay events.jsonl --history chdb://$PWD/gs --quiet > /dev/null
  greekstream history status chdb://$PWD/gs
  greekstream history books chdb://$PWD/gs
  greekstream history migrate http://default:secret@clickhouse:8123/greekstream --ttl-days 400
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("migrate", "status", "books"))
    p.add_argument("dsn", help="chdb:///DIR[?database=NAME] or http(s)://USER:PASS@HOST:8123/DB")
    p.add_argument("--ttl-days", type=int, help="migrate: keep rows N days (default: forever)")


def stored_time(micros: int) -> str:
    """A stored time as RFC 3339, or what it is when the engine could not have written it
    (rows written by an older version, or by hand): status must describe any store."""
    if ts_in_range(micros):
        return format_ts(micros)
    return f"out of range: {micros} µs since 1970 (the engine accepts {TS_RANGE_TEXT})"


def run(args: argparse.Namespace) -> int:
    if args.ttl_days is not None and args.ttl_days <= 0:
        raise UsageError("--ttl-days must be a positive number of days")
    if args.ttl_days is not None and args.ttl_days > max_ttl_days(0):
        raise UsageError(f"--ttl-days {args.ttl_days} is beyond what ClickHouse's DateTime "
                         "can hold (2106-02-07)", hint="keep rows at most a few decades")
    if args.action == "migrate":
        with connect(args.dsn, create=True) as history:
            applied = migrate(history)
            if args.ttl_days is not None:
                check_ttl(history, args.ttl_days, now_us=time.time_ns() // 1000)
                set_ttl(history, args.ttl_days)
            version = current_version(history)
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied)
        done = f"applied {names}" if names else "no migration to apply"
        if args.ttl_days is not None:
            done += f"; rows now expire {args.ttl_days} days after their ts"
        elif not names:
            done = "nothing to apply"
        print(f"history at {history.target}: schema version {version} ({done})")
        return 0
    with connect(args.dsn) as history:
        tables = require_schema(history)
        if args.action == "books":
            print_json(sorted(known_books(history)))
            return 0
        span = history_span(history)
        counts = {  # every event table; null for one a store migrated before it lacks
            t: int(history.rows(f"SELECT count() FROM {t}")[0][0]) if t in tables else None
            for t in TABLES_WITH_TTL
        }
        print_json({
            "target": str(history.target),
            "schema_version": current_version(history),
            "first_event": stored_time(span[0]) if span else None,
            "last_event": stored_time(span[1]) if span else None,
            "rows": counts,
            # records the sink could not store as rows (docs/history.md#quarantine)
            "quarantined_outputs": quarantined(history, "output_quarantine", tables),
            "quarantined_inputs": quarantined(history, "input_quarantine", tables),
        })
    return 0


def quarantined(history: History, table: str, tables: set[str]) -> int | None:
    """Records in a quarantine table (each once); None on a store migrated before it
    (``tables``: the store's, :meth:`History.tables`)."""
    if table not in tables:
        return None
    return int(history.rows(f"SELECT count() FROM {table} FINAL")[0][0])
