"""docs/history.md's schema table names every table the migrations create: it left out
the five that the v2 additions brought (pnl, var, output_chain, regimes, intent_status),
so a quant reading it did not know where P&L, VaR or the chain links are stored."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "greekstream" / "history" / "migrations"


def test_every_migrated_table_is_in_the_schema_table() -> None:
    created = {m for f in MIGRATIONS.glob("*.sql")
               for m in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", f.read_text())}
    assert {"raw_events", "pnl", "intent_status"} <= created  # the pattern reads them
    doc = (ROOT / "docs" / "history.md").read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    named = {name for line in rows for name in re.findall(r"`(\w+)`", line.split("|")[1])}
    assert created - named == set(), "tables missing from docs/history.md's schema table"
