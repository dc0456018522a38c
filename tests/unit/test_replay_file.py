"""`greekstream replay FILE` on small files: what the summary counts, and a UTF-8 BOM."""

from __future__ import annotations

from pathlib import Path

import orjson

from greekstream.runtime.replay import read_records, replay
from tests.cli import run
from tests.unit import builders as b

CALL = "BTC-27MAR26-60000-C"


def market() -> list[bytes]:
    return [b.option(CALL, 60000), b.index("x0", 1, 61000),
            b.quote_opt("q0", 2, CALL, 61200, 0.62)]


def test_summary_counts_neither_duplicates_nor_rejections_nor_late_quotes_as_applied(
    tmp_path: Path,
) -> None:
    lines = [*market(), b.trade("t1", 4, CALL, "buy", 10), b.trade("t1", 4, CALL, "buy", 10),
             b.trade("t1", 5, CALL, "buy", 10), b.quote_opt("q-late", 1, CALL, 50000, 0.3),
             b.trade("bad", 6, "NO-SUCH", "buy", 1)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = replay(read_records(path))
    assert (result.applied, result.engine.duplicates, result.engine.late_quotes) == (5, 2, 1)
    code, _, err = run("replay", str(path))
    assert code == 0
    assert "replay: 5 events applied, 2 duplicates ignored, 1 late quotes ignored" in err, err


def test_a_utf8_bom_on_the_first_line_is_not_a_rejection(tmp_path: Path) -> None:
    lines = [*market(), b.trade("t1", 4, CALL, "buy", 10)]
    plain, with_bom = tmp_path / "plain.jsonl", tmp_path / "bom.jsonl"
    plain.write_bytes(b"\n".join(lines) + b"\n")
    with_bom.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    code, out, err = run("replay", str(with_bom))
    assert code == 0 and "rejected" not in err, err
    rows = orjson.loads(out)
    assert rows and rows == orjson.loads(run("replay", str(plain))[1])
    assert rows[0]["positions"] == 1
