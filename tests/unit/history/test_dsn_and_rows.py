"""DSN parsing, migration files and row building (no ClickHouse needed)."""

from __future__ import annotations

import orjson
import pytest

from greekstream.core.timeutil import parse_ts
from greekstream.errors import HistoryError
from greekstream.history.client import parse_dsn
from greekstream.history.migrate import load_migrations
from greekstream.history.rows import RAW, ArrivalClocks, locate, raw_row


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
    clocks = ArrivalClocks()

    def row(raw: bytes, source: str) -> dict[str, object]:
        return dict(zip(RAW.columns, raw_row(raw, source, clocks), strict=True))

    first = row(_index("2026-03-02T00:00:02Z"), "f.jsonl:1")
    assert first["ts"] == first["arrival_ts"] == 1772409602000000
    assert first["underlying"] == "BTC" and first["decoded"]
    late = row(_index("2026-03-02T00:00:01Z"), "f.jsonl:2")
    assert late["ts"] == 1772409601000000 and late["arrival_ts"] == first["ts"]
    bad = row(b"{oops", "f.jsonl:3")
    assert bad["ts"] == bad["arrival_ts"] == first["ts"] and not bad["decoded"]
    assert bad["raw"] == b"{oops" and bad["record_key"] == "f.jsonl:3"
    other = row(_index("2026-03-02T00:00:00Z"), "g.jsonl:1")
    assert other["arrival_ts"] == other["ts"]  # another stream has its own clock


def _trade(ts: object, event_id: str = "t") -> bytes:
    return orjson.dumps({"type": "trade", "event_id": event_id, "ts": ts, "book": "b",
                         "instrument_id": "P", "side": "buy", "quantity": 1, "price": 1.0})


def test_a_record_dated_past_max_ts_ahead_moves_no_arrival_clock() -> None:
    """A book record dated more than max_ts_ahead_s past the market clock (the engine
    rejects it: ts_ahead) keeps its stream's arrival clock where it was: before, one trade
    mistyped as 2099 put every later record of its partition after all other streams."""
    clocks = ArrivalClocks(max_ts_ahead_s=86_400.0)

    def row(raw: bytes, source: str) -> dict[str, object]:
        return dict(zip(RAW.columns, raw_row(raw, source, clocks), strict=True))

    # before any market record nothing is compared (the engine applies it too)
    early = row(_trade("2026-03-05T00:00:00Z", "e"), "gs.trades/1/0")
    assert early["arrival_ts"] == early["ts"]
    market = row(_index("2026-03-02T00:00:00Z"), "gs.index/0/0")
    assert clocks.market == market["ts"] == market["arrival_ts"]
    t1 = row(_trade("2026-03-02T00:00:03Z", "t1"), "gs.trades/0/0")
    typo = row(_trade("2099-03-02T00:00:04Z", "typo"), "gs.trades/0/1")
    assert typo["ts"] == parse_ts("2099-03-02T00:00:04Z") and typo["decoded"]  # its own
    assert typo["arrival_ts"] == t1["arrival_ts"] == t1["ts"]  # the clock did not move
    t2 = row(_trade("2026-03-02T00:00:05Z", "t2"), "gs.trades/0/2")
    assert t2["arrival_ts"] == t2["ts"] == 1772409605000000
    # within the limit of the market clock a record moves its stream's clock, as before
    ahead = row(_trade("2026-03-02T23:00:00Z", "a"), "gs.trades/0/3")
    assert ahead["arrival_ts"] == ahead["ts"]
    # a window tick stands for a book record: compared too, and moves no market clock
    tick = orjson.dumps({"type": "tick", "event_id": "gs-window-9", "ts": "2099-01-01T00:00:00Z"})
    assert row(tick, "gs.index/0/1")["arrival_ts"] == market["ts"]
    # market data is never held back, so after a gap it moves the clocks on
    jump = row(_index("2099-03-01T00:00:00Z"), "gs.index/0/2")
    assert jump["arrival_ts"] == clocks.market == jump["ts"]
    later = row(_trade("2099-03-01T00:00:04Z", "late-typo"), "gs.trades/0/4")
    assert later["arrival_ts"] == later["ts"]
    # no limit (0): nothing is compared
    free = ArrivalClocks(max_ts_ahead_s=0)
    raw_row(_index("2026-03-02T00:00:00Z"), "m:1", free)
    far = raw_row(_trade("2099-03-02T00:00:04Z"), "t:1", free)
    assert far[4] == parse_ts("2099-03-02T00:00:04Z")


@pytest.mark.parametrize("ts", [4076092804000000, 1772409605000000, True, 1.5e15])
def test_a_ts_the_contract_does_not_take_is_no_time_in_history(ts: object) -> None:
    """An integer (or boolean, float) ts: the engine rejects the record (the contract's
    ts is an RFC 3339 string), so it is a record without a time, stored at its stream's
    clock; it used to move the clock (to 2099 for the first)."""
    clocks = ArrivalClocks()
    first = raw_row(_index("2026-03-02T00:00:00Z"), "f:1", clocks)
    row = dict(zip(RAW.columns, raw_row(_trade(ts), "f:2", clocks), strict=True))
    assert row["ts"] == row["arrival_ts"] == first[3] and not row["decoded"]
    assert clocks.streams == {("f", 0): first[3]}
