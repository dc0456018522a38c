"""`greekstream verify` refuses a report that writes a key twice in one object. The
signature covers the report as verify reads it (orjson keeps the last copy of a key), so a
forged "date" inserted before the signed one verified OK, while a reader that keeps the
first copy (many do) saw the forged day."""

from __future__ import annotations

from pathlib import Path

import orjson

from greekstream.reports.signing import load_private, sign
from tests.cli import run

REPORT = {"kind": "greekstream.end_of_day", "date": "2026-03-02",
          "books": {"desk-a": {"chain": {"head": "ab" * 32}}}}


def _signed(tmp_path: Path) -> tuple[bytes, str]:
    key = tmp_path / "k"
    assert run("keygen", str(key))[0] == 0
    doc = sign(REPORT, load_private(key))
    return orjson.dumps(doc), f"{key}.pub"


def test_a_key_written_twice_fails_verification(tmp_path: Path) -> None:
    body, pub = _signed(tmp_path)
    good = tmp_path / "good.json"
    good.write_bytes(body)
    code, out, _ = run("verify", str(good), "--pubkey", pub)
    assert code == 0 and out.startswith("OK"), out
    forged = tmp_path / "forged.json"  # a first "date" that first-key readers take
    forged.write_bytes(body.replace(b'"date":"2026-03-02"',
                                    b'"date":"2026-03-05","date":"2026-03-02"', 1))
    assert orjson.loads(forged.read_bytes()) == orjson.loads(body)  # the same to orjson
    code, out, _ = run("verify", str(forged), "--pubkey", pub)
    assert code == 1, out
    assert "FAIL" in out and "'date' twice" in out, out


def test_a_nested_key_written_twice_fails_too(tmp_path: Path) -> None:
    body, pub = _signed(tmp_path)
    forged = tmp_path / "forged.json"
    forged.write_bytes(body.replace(b'"head":', b'"head":"' + b"cd" * 32 + b'","head":', 1))
    code, out, _ = run("verify", str(forged), "--pubkey", pub)
    assert code == 1 and "'head' twice" in out, out
