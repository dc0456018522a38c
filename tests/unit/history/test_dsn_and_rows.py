"""DSN parsing, migration files and row building (no ClickHouse needed)."""

from __future__ import annotations

import orjson
import pytest

from greekstream.errors import HistoryError
from greekstream.history.client import parse_dsn
from greekstream.history.migrate import load_migrations
from greekstream.history.rows import RAW, locate, raw_row


@pytest.mark.parametrize(
    ("dsn", "scheme", "location", "database"),
    [
        ("chdb:///var/lib/gs", "chdb", "/var/lib/gs", "greekstream"),
        ("chdb:///tmp/x?database=t1", "chdb", "/tmp/x", "t1"),
        ("http://u:p@ch:8123/risk", "http", "ch:8123", "risk"),
        ("https://ch.example.com/risk", "https", "ch.example.com:8443", "risk"),
    ],
)
def test_good_dsns(dsn: str, scheme: str, location: str, database: str) -> None:
    target = parse_dsn(dsn)
    assert (target.scheme, target.location, target.database) == (scheme, location, database)


@pytest.mark.parametrize(
    ("dsn", "problem"),
    [
        ("not a dsn", "not of the form"),
        ("ftp://host/db", "unknown scheme 'ftp'"),
        ("chdb://relative/path", "expected chdb:///ABSOLUTE/DIR"),
        ("http://:8123/db", "no host"),
        ("http://h:notaport/db", "malformed ClickHouse DSN"),
        ("http://h:8123/bad-name;drop", "bad database name"),
    ],
)
def test_bad_dsns_name_the_problem(dsn: str, problem: str) -> None:
    with pytest.raises(HistoryError, match="malformed") as info:
        parse_dsn(dsn)
    assert problem in str(info.value)
    assert info.value.hint


def test_dsn_password_is_not_shown() -> None:
    assert "secret" not in str(parse_dsn("http://u:secret@h:8123/db"))


def test_migrations_are_ordered_and_split() -> None:
    migrations = load_migrations()
    versions = [m.version for m in migrations]
    # each helper owns a block of numbers (PROTOCOL): gaps are allowed, order and uniqueness not
    assert versions == sorted(set(versions)) and versions[:3] == [1, 2, 3]
    statements = [s for m in migrations for s in m.statements()]
    assert all(s.upper().startswith(("CREATE", "ALTER TABLE")) for s in statements)
    assert all("IF NOT EXISTS" in s for s in statements)


def test_locate_sources() -> None:
    assert locate("greekstream.quotes/3/1200") == ("greekstream.quotes", 3, 1200)
    assert locate("events.jsonl:17") == ("events.jsonl", 0, 17)


def _index(ts: str) -> bytes:
    return orjson.dumps({"type": "index", "event_id": ts, "ts": ts, "underlying": "BTC",
                         "price": 1.0})


def test_raw_rows_carry_each_streams_arrival_clock() -> None:
    clocks: dict[tuple[str, int], int] = {}

    def row(raw: bytes, source: str) -> dict[str, object]:
        return dict(zip(RAW.columns, raw_row(raw, source, clocks), strict=True))

    first = row(_index("2026-03-02T00:00:02Z"), "f.jsonl:1")
    assert first["ts"] == first["arrival_ts"] == 1772409602000000
    assert first["underlying"] == "BTC" and first["decoded"]
    late = row(_index("2026-03-02T00:00:01Z"), "f.jsonl:2")
    assert late["ts"] == 1772409601000000 and late["arrival_ts"] == first["ts"]
    bad = row(b"{oops", "f.jsonl:3")
    assert bad["ts"] == bad["arrival_ts"] == first["ts"] and not bad["decoded"]
    assert bad["raw"] == "{oops" and bad["record_key"] == "f.jsonl:3"
    other = row(_index("2026-03-02T00:00:00Z"), "g.jsonl:1")
    assert other["arrival_ts"] == other["ts"]  # another stream has its own clock
