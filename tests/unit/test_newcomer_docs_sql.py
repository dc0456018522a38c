"""The SQL a quant copies from the docs runs against the schema the migrations create.

Every ```sql block and every inline `SELECT ... FROM ...` span of README.md and docs/*.md
is run on an empty store migrated by `greekstream history migrate` (in a subprocess: chDB
allows one store per process): a wrong table or column name, or a clause ClickHouse does
not parse, fails here instead of in the reader's terminal. A `…` in a snippet stands for
a column list (run as `*`); `FROM TABLE` is a placeholder and is skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)
_INLINE = re.compile(r"`(SELECT [^`]*?\bFROM\b[^`]*)`", re.S)


def doc_sql() -> list[tuple[str, str]]:
    """(where, statement) for every SQL statement the docs show."""
    found: list[tuple[str, str]] = []
    for path in TEXTS:
        text = path.read_text()
        name = str(path.relative_to(ROOT))
        for block in _BLOCK.findall(text):
            body = "\n".join(line for line in block.splitlines()
                             if not line.strip().startswith("--"))
            found += [(name, s.strip()) for s in body.split(";") if s.strip()]
        for span in _INLINE.findall(text):
            found.append((name, " ".join(span.split()).rstrip(";")))
    return [(where, sql.replace("…", "*")) for where, sql in found
            if not re.search(r"\bFROM TABLE\b", sql)]


_RUNNER = """
import json, sys, tempfile
from greekstream.history.client import connect
from greekstream.history.migrate import migrate
statements = json.loads(sys.stdin.read())
failures = []
with tempfile.TemporaryDirectory() as tmp:
    with connect(f"chdb://{tmp}/store", create=True) as h:
        migrate(h)
        for where, sql in statements:
            try:
                h.rows(sql)
            except Exception as exc:
                failures.append(f"{where}: {sql}\\n    {str(exc).splitlines()[0][:300]}")
print(json.dumps(failures))
"""


def test_the_docs_show_sql() -> None:
    """The extraction finds the snippets (so the test below cannot pass on nothing)."""
    found = [sql for _, sql in doc_sql()]
    assert any("ARRAY JOIN price_shocks" in s for s in found)
    assert any("output_quarantine" in s and "NOT IN" in s for s in found)
    assert any("FROM rejections" in s for s in found)


def test_every_sql_snippet_in_the_docs_runs_on_the_migrated_schema() -> None:
    pytest.importorskip("chdb")
    env_path = str(ROOT / "services")
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER], input=json.dumps(doc_sql()), capture_output=True,
        text=True, timeout=300, env={**os.environ, "PYTHONPATH": env_path},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert failures == [], "\n".join(failures)
