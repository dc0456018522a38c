"""Replay to and from history, exact as-of exposures, and audit (real chDB)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greekstream.cli import main
from greekstream.core.events import encode
from greekstream.core.timeutil import parse_ts
from greekstream.errors import HistoryError, HistoryQueryError
from greekstream.history import connect, read_records_from_history, write_replay
from greekstream.history.audit import audit
from greekstream.runtime.replay import read_records, replay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def encoded(outputs: list) -> list[bytes]:
    return [encode(o) for o in outputs]


def test_replay_from_history_equals_replay_from_file(shared_stored: str, events_file: Path) -> None:
    from_file = replay(read_records(events_file))
    from_history = replay(read_records_from_history(shared_stored))
    assert from_file.outputs, "the sample must produce outputs"
    kinds = {o.type for o in from_file.outputs}
    assert {"exposure", "breach", "hedge_intent", "rejected"} <= kinds
    assert encoded(from_history.outputs) == encoded(from_file.outputs)


def test_writing_the_same_replay_twice_stores_each_row_once(
    stored: str, events_file: Path
) -> None:
    result = replay(read_records(events_file))
    write_replay(stored, read_records(events_file), result.outputs)
    lines = sum(1 for _ in read_records(events_file))
    with connect(stored) as history:
        raw = history.rows("SELECT count(), uniqExact(record_key) FROM raw_events FINAL")[0]
        exp = history.rows("SELECT count(), uniqExact(event_id) FROM exposures FINAL")[0]
    assert raw == (lines, lines)
    n_exposures = sum(1 for o in result.outputs if o.type == "exposure")
    assert exp == (n_exposures, n_exposures)


def test_book_filter_gives_that_books_outputs(shared_stored: str, events_file: Path) -> None:
    full = replay(read_records(events_file))
    book = next(o.book for o in full.outputs if o.type == "hedge_intent")
    only = replay(read_records_from_history(shared_stored, book=book))
    wanted = [o for o in full.outputs if getattr(o, "book", None) == book]
    got = [o for o in only.outputs if getattr(o, "book", None) == book]
    assert encoded(got) == encoded(wanted)
    assert {getattr(o, "book", book) for o in only.outputs if o.type != "rejected"} == {book}


def test_exposure_command_matches_replay_as_of(
    shared_stored: str, events_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    as_of = "2026-03-02T01:17:30.5Z"
    for book_args in ([], ["--book", "desk-b"]):
        assert main(["replay", str(events_file), "--as-of", as_of, "--quiet"]) == 0
        expected = json.loads(capsys.readouterr().out)
        assert main(["exposure", shared_stored, "--as-of", as_of, *book_args]) == 0
        got = json.loads(capsys.readouterr().out)
        if book_args:
            expected = [r for r in expected if r["book"] == "desk-b"]
        assert got and got == expected
    assert main(["replay", str(events_file), "--as-of", as_of, "--format", "table",
                 "--quiet"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert main(["exposure", shared_stored, "--as-of", as_of, "--format", "table"]) == 0
    from_history = capsys.readouterr().out.splitlines()
    assert from_history[0].startswith(table[0])  # "exposures as of TS" (+ the store)
    assert len(table) > 3 and from_history[1:] == table[1:]


def test_audit_is_clean_then_finds_injected_divergences(
    stored: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", stored]) == 0
    assert "no divergence" in capsys.readouterr().err
    with connect(stored) as history:
        changed = history.rows("SELECT event_id FROM exposures ORDER BY ts, event_id LIMIT 1 "
                               "OFFSET 100")[0][0]
        dropped = history.rows("SELECT event_id FROM hedge_intents ORDER BY ts LIMIT 1")[0][0]
        history.command("ALTER TABLE exposures UPDATE delta = delta + 0.5 "
                        f"WHERE event_id = '{changed}' SETTINGS mutations_sync = 1")
        history.command(f"ALTER TABLE hedge_intents DELETE WHERE event_id = '{dropped}' "
                        "SETTINGS mutations_sync = 1")
        found = audit(history)
    assert {(d.kind, d.type, d.event_id) for d in found} == {
        ("differs", "exposure", changed),
        ("missing", "hedge_intent", dropped),
    }
    assert "delta: stored" in next(d.detail for d in found if d.kind == "differs")
    assert main(["audit", stored]) == 1
    out = capsys.readouterr().out
    assert changed in out and dropped in out


def test_audit_finds_a_second_different_row_of_an_output_before_a_merge(
    stored: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ReplacingMergeTree keeps every inserted row of a key until a merge: a rewritten
    exposure inserted next to the original is read by every query until then. The audit
    kept one row per event_id (whichever came last) and said "no divergence" when that
    was the original; each stored row is compared now."""
    with connect(stored) as history:
        changed = history.rows("SELECT event_id FROM exposures ORDER BY ts, event_id LIMIT 1 "
                               "OFFSET 100")[0][0]
        history.command("INSERT INTO exposures SELECT * REPLACE (delta + 1000 AS delta) "
                        f"FROM exposures WHERE event_id = '{changed}'")
        assert history.rows(  # both rows are there (no merge yet)
            f"SELECT count() FROM exposures WHERE event_id = '{changed}'")[0][0] == 2
        found = audit(history)
    assert [(d.kind, d.type, d.event_id) for d in found] == [("differs", "exposure", changed)]
    assert "one of 2 different rows" in found[0].detail
    assert main(["audit", stored]) == 1
    assert changed in capsys.readouterr().out


def test_audit_up_to_a_time_is_clean_when_a_late_record_arrived_after_later_ones(
    dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trade dated 00:00:15 arrived after an index dated 00:00:20: the engine valued it
    at the 00:00:20 index. `audit --to 00:00:17` replayed only the records dated up to
    its --to, so it re-derived that trade's exposure, P&L and risk matrix at the older
    index and reported three divergences on a clean store. The whole history is
    replayed now (in arrival order) and only the window's outputs compared."""
    from tests.unit import builders as b

    perp = "BTC-PERPETUAL"
    lines = [b.perp(perp, "linear", 1.0), b.index("x0", 1, 60000),
             b.quote_mark("q0", 2, perp, 60000), b.trade("t1", 10, perp, "buy", 5),
             b.index("x1", 20, 70000), b.quote_mark("q1", 20, perp, 70000),
             b.trade("t2", 15, perp, "buy", 3), b.index("x2", 30, 71000)]
    events = tmp_path / "late.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["replay", str(events), "--history", dsn, "--quiet"]) == 0
    with connect(dsn) as history:
        stored = history.rows("SELECT delta_usd FROM exposures "
                              "WHERE event_id = 'exp:t2:desk-a:BTC'")
        assert stored == [(8 * 70000.0,)]  # valued at the index that came before it
        assert audit(history) == []
        for t_from, t_to in ((None, "00:00:17"), ("00:00:12", "00:00:17"),
                             ("00:00:15", "00:00:15")):
            window = (None if t_from is None else parse_ts(f"2026-03-01T{t_from}Z"),
                      parse_ts(f"2026-03-01T{t_to}Z"))
            assert audit(history, *window) == [], window
    assert main(["audit", dsn, "--to", "2026-03-01T00:00:17Z"]) == 0
    assert "no divergence" in capsys.readouterr().err


def test_an_interrupted_replay_into_history_stores_nothing_and_a_re_run_stores_it_once(
    dsn: str, events_file: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C during `replay FILE --history DSN`: closing the store flushed the rows held,
    the records of the chunks read so far and only part of their outputs. The re-run
    found the file not stored whole, stored it again as FILE#2 continuing from the half
    (its records were duplicates: their outputs never came) and `audit` found thousands
    of divergences. Now an interrupted replay stores nothing it held."""
    from greekstream.commands import replay as command

    real = command.replay

    def interrupted(*args: object, **kwargs: object) -> object:
        sink = kwargs["on_output"]
        seen = [0]

        def on_output(event: object) -> None:
            sink(event)  # type: ignore[operator]
            seen[0] += 1
            if seen[0] == 3000:
                raise KeyboardInterrupt
        kwargs["on_output"] = on_output
        return real(*args, **kwargs)

    monkeypatch.setattr(command, "replay", interrupted)
    assert main(["replay", str(events_file), "--history", dsn, "--quiet"]) == 130
    with connect(dsn) as history:
        assert history.rows("SELECT count() FROM raw_events")[0][0] == 0
        assert history.rows("SELECT count() FROM exposures")[0][0] == 0
    monkeypatch.setattr(command, "replay", real)
    assert main(["replay", str(events_file), "--history", dsn, "--quiet"]) == 0
    capsys.readouterr()
    with connect(dsn) as history:
        streams = {s for (s,) in history.rows("SELECT DISTINCT stream FROM raw_events")}
        assert audit(history) == []
    assert streams <= {events_file.name, f"{events_file.name}:end"}, streams


def test_a_store_fed_file_after_file_audits_clean_and_re_derives_the_straight_run(
    dsn: str, events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Appending with `replay --history` continues from the stored inputs: two parts (the
    second under the first one's file name, from another folder) store what one straight
    replay outputs; the same file again adds nothing."""
    lines = events_file.read_bytes().splitlines()
    cut = len(lines) * 2 // 5
    first, second = tmp_path / "day.jsonl", tmp_path / "later" / "day.jsonl"
    second.parent.mkdir()
    first.write_bytes(b"\n".join(lines[:cut]) + b"\n")
    second.write_bytes(b"\n".join(lines[cut:]) + b"\n")
    for part in (first, second, first):
        assert main(["replay", str(part), "--history", dsn, "--quiet"]) == 0
    assert "already" in capsys.readouterr().err  # the third: first is stored
    with connect(dsn) as history:
        assert audit(history) == []
        streams = dict(history.rows("SELECT stream, count() FROM raw_events FINAL "
                                    "WHERE type != 'tick' GROUP BY stream"))
        stored_ids = sorted(r[0] for r in history.rows("SELECT event_id FROM exposures FINAL"))
    assert streams == {"day.jsonl": cut, "day.jsonl#2": len(lines) - cut}
    straight = replay(read_records(events_file)).outputs
    assert stored_ids == sorted(o.event_id for o in straight if o.type == "exposure")


def test_a_file_edited_in_the_middle_is_not_taken_as_stored(
    dsn: str, events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`replay --history` of a file of a stored file's name, with as many lines and the
    same first and last: only its line-for-line equal is "already stored". A file edited
    in the middle (a trade's quantity corrected) was taken as stored and the edit
    dropped without a word; it is stored as FILE#2, after the first."""
    lines = events_file.read_bytes().splitlines()[:1500]
    path = tmp_path / "day.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["replay", str(path), "--history", dsn, "--quiet"]) == 0
    assert main(["replay", str(path), "--history", dsn, "--quiet"]) == 0
    assert "already" in capsys.readouterr().err  # the same bytes: nothing added
    i = next(k for k in range(len(lines) // 2, len(lines) - 1)
             if json.loads(lines[k]).get("type") == "trade")
    trade = json.loads(lines[i])
    trade["quantity"] = trade["quantity"] * 2
    edited = [*lines[:i], json.dumps(trade, separators=(",", ":")).encode(), *lines[i + 1:]]
    path.write_bytes(b"\n".join(edited) + b"\n")
    assert main(["replay", str(path), "--history", dsn, "--quiet"]) == 0
    assert "already" not in capsys.readouterr().err
    with connect(dsn) as history:
        streams = dict(history.rows("SELECT stream, count() FROM raw_events FINAL "
                                    "WHERE type != 'tick' AND stream LIKE 'day.jsonl%' "
                                    "GROUP BY stream"))
    assert streams == {"day.jsonl": len(lines), "day.jsonl#2": len(lines)}


def test_audit_over_a_window_only_compares_that_window(stored: str) -> None:
    with connect(stored) as history:
        first = history.rows("SELECT event_id, toUnixTimestamp64Micro(ts) FROM breaches "
                             "ORDER BY ts LIMIT 1")[0]
        history.command(f"ALTER TABLE breaches DELETE WHERE event_id = '{first[0]}' "
                        "SETTINGS mutations_sync = 1")
        assert [d.event_id for d in audit(history)] == [first[0]]
        assert audit(history, t_from=first[1] + 1) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2020-01-01T00:00:00Z"], "before history starts"),
        (["--as-of", "2026-03-02T01:00:00Z", "--book", "nobody"], "unknown book 'nobody'"),
    ],
)
def test_exposure_errors_name_the_problem(
    shared_stored: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["exposure", shared_stored, *args]) == 2
    assert message in capsys.readouterr().err


def test_inverted_range_is_refused(shared_stored: str) -> None:
    with connect(shared_stored) as history, pytest.raises(HistoryQueryError, match="inverted"):
        audit(history, t_from=parse_ts("2026-03-02T02:00:00Z"),
              t_to=parse_ts("2026-03-02T01:00:00Z"))


def test_unreachable_server_and_missing_history(dsn: str, chdb_dir: Path) -> None:
    with pytest.raises(HistoryError, match=r"cannot connect to ClickHouse at [\d.]+:9:") as info:
        connect("http://127.0.0.1:9/greekstream")
    assert info.value.__cause__ is not None
    with connect(dsn, create=True):  # the store exists (run alone, no other test made it)
        pass
    with pytest.raises(HistoryError, match="database 'never_migrated' does not exist"):
        connect(f"chdb://{chdb_dir}?database=never_migrated")


def test_exposure_command_replays_with_the_processors_engine_settings(
    dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`exposure` replays history with GREEKSTREAM_ENGINE__* as `replay --as-of` does: with
    a lowered max_ts_ahead_s, a trade 12.5 h past the market data is not applied by either
    (it was with the defaults in `exposure` alone)."""
    case = Path(__file__).resolve().parents[2] / "golden" / "cases" / "linear_call.jsonl"
    assert main(["replay", str(case), "--history", dsn, "--quiet"]) == 0
    capsys.readouterr()
    as_of = "2026-03-01T18:00:00Z"
    monkeypatch.setenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S", str(12.25 * 3600))
    assert main(["replay", str(case), "--as-of", as_of, "--quiet"]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert main(["exposure", dsn, "--as-of", as_of]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == expected and {r["book"] for r in got} == {"desk-a"}  # desk-b's trade: ts_ahead


def _rec(type_: str, event_id: str, ts: object, **fields: object) -> bytes:
    return json.dumps({"type": type_, "event_id": event_id, "ts": ts, **fields}).encode()


@pytest.mark.parametrize(("typo", "reason"), [("2099-03-01T00:00:04Z", "ts_ahead"),
                                              (4076092804000000, "invalid_event")])
def test_a_rejected_far_ahead_record_keeps_its_partitions_replay_order(
    dsn: str, typo: object, reason: str
) -> None:
    """A trade mistyped as 2099 (the engine rejects it: ts_ahead), or dated 2099 by an
    integer the contract does not take (invalid_event), moved its Kafka partition's
    arrival clock to 2099, so every later record of that partition replayed from history
    after all other partitions: an accepted trade became late_event. Now the replay from
    history rejects and applies what the processor did."""
    from greekstream.history.migrate import migrate
    from greekstream.history.replay_io import iter_raw
    from greekstream.history.writer import HistoryWriter

    market, trades = "gs.market/0", "gs.trades/0"
    trade = {"book": "b", "instrument_id": "P", "side": "buy", "price": 100.0}
    live = [  # in the order the processor applied them
        (_rec("instrument", "i", "2026-03-01T00:00:00Z", instrument_id="P", kind="perpetual",
              underlying="BTC", settlement="linear", contract_size=1), f"{market}/0"),
        (_rec("index", "x1", "2026-03-01T00:00:01Z", underlying="BTC", price=100.0),
         f"{market}/1"),
        (_rec("quote", "q1", "2026-03-01T00:00:02Z", instrument_id="P", mark_price=100.0),
         f"{market}/2"),
        (_rec("trade", "t1", "2026-03-01T00:00:03Z", quantity=1, **trade), f"{trades}/0"),
        (_rec("trade", "typo", typo, quantity=1, **trade), f"{trades}/1"),
        (_rec("trade", "t2", "2026-03-01T00:00:05Z", quantity=5, **trade), f"{trades}/2"),
        (_rec("index", "x2", "2026-03-03T12:00:00Z", underlying="BTC", price=200.0),
         f"{market}/3"),
        (_rec("quote", "q2", "2026-03-03T12:00:00Z", instrument_id="P", mark_price=200.0),
         f"{market}/4"),
    ]
    expected = replay(live)
    assert [o.reason for o in expected.outputs if o.type == "rejected"] == [reason]
    with connect(dsn, create=True) as history:
        migrate(history)
        writer = HistoryWriter(history)
        for raw, source in live:
            topic, partition, offset = source.rsplit("/", 2)
            writer.add_record(raw, source, (topic, int(partition), int(offset), raw))
        writer.flush("batch-1")
        stored = list(iter_raw(history))
    assert [source for _, source in stored] == [source for _, source in live]
    assert encoded(replay(stored).outputs) == encoded(expected.outputs)


def test_an_appended_file_compares_a_far_ahead_record_with_the_stored_market_clock(
    dsn: str, tmp_path: Path
) -> None:
    """A file appended to a store starts from the stored market records' clock: its first
    record, a trade mistyped as 2099 (ts_ahead for the engine, continued from the store),
    does not move its arrival clock there."""
    day1, day2 = tmp_path / "day1.jsonl", tmp_path / "day2.jsonl"
    day1.write_bytes(b"\n".join([
        _rec("instrument", "i", "2026-03-01T00:00:00Z", instrument_id="P", kind="perpetual",
             underlying="BTC", settlement="linear", contract_size=1),
        _rec("index", "x1", "2026-03-01T00:00:01Z", underlying="BTC", price=100.0)]) + b"\n")
    trade = {"book": "b", "instrument_id": "P", "side": "buy", "price": 100.0, "quantity": 1}
    day2.write_bytes(b"\n".join([
        _rec("trade", "typo", "2099-03-01T00:00:04Z", **trade),
        _rec("trade", "t2", "2026-03-01T00:00:05Z", **trade)]) + b"\n")
    for path in (day1, day2):
        assert main(["replay", str(path), "--history", dsn, "--quiet"]) == 0
    with connect(dsn) as history:
        rows = history.rows("SELECT event_id, toUnixTimestamp64Micro(arrival_ts) "
                            "FROM raw_events WHERE stream = 'day2.jsonl' ORDER BY seq")
    assert [e for e, _ in rows] == ["typo", "t2"]
    assert rows[0][1] < rows[1][1] == parse_ts("2026-03-01T00:00:05Z")


def _not_utf8_lines() -> list[bytes]:
    """A market, then a trade whose event_id holds a byte that is not UTF-8 (a producer's
    Latin-1 "é": the engine rejects it, invalid_json), then a good trade."""
    trade = {"book": "b", "instrument_id": "P", "side": "buy", "price": 100.0}
    return [
        _rec("trade", "t0-XX", "2026-03-01T00:00:00Z", quantity=5, **trade).replace(
            b"XX", b"caf\xe9"),  # the first line too: an append compares it
        _rec("instrument", "i", "2026-03-01T00:00:00Z", instrument_id="P", kind="perpetual",
             underlying="BTC", settlement="linear", contract_size=1),
        _rec("index", "x1", "2026-03-01T00:00:01Z", underlying="BTC", price=100.0),
        _rec("quote", "q1", "2026-03-01T00:00:02Z", instrument_id="P", mark_price=100.0),
        _rec("trade", "t1", "2026-03-01T00:00:03Z", quantity=1, **trade),
        _rec("trade", "t2-XX", "2026-03-01T00:00:04Z", quantity=5, **trade).replace(
            b"XX", b"caf\xe9"),
    ]


def test_a_record_that_is_not_utf8_is_stored_byte_for_byte(dsn: str) -> None:
    """Its bytes were stored decoded with U+FFFD in place of the bad byte: valid JSON, so
    a replay from history accepted the trade the processor had rejected."""
    from greekstream.history.migrate import migrate
    from greekstream.history.replay_io import iter_raw
    from greekstream.history.writer import HistoryWriter

    live = [(raw, f"gs.trades/0/{offset}") for offset, raw in enumerate(_not_utf8_lines())]
    expected = replay(live)
    assert [o.reason for o in expected.outputs if o.type == "rejected"] == ["invalid_json"] * 2
    with connect(dsn, create=True) as history:
        migrate(history)
        writer = HistoryWriter(history)
        for raw, source in live:
            writer.add_record(raw, source, ("gs.trades", 0, int(source.rsplit("/", 1)[1]), raw))
        writer.flush("batch-1")
        stored = list(iter_raw(history))
    assert stored == live
    assert encoded(replay(stored).outputs) == encoded(expected.outputs)


def test_a_file_that_is_not_utf8_replays_from_history_as_from_the_file(
    dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`replay FILE --history`, then `replay --from-history`: the same outputs, byte for
    byte; the same file again is stored already (its first line is compared as bytes)."""
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b"\n".join(_not_utf8_lines()) + b"\n")
    for out in ("from-file", "again"):
        assert main(["replay", str(path), "--history", dsn, "--out", str(tmp_path / out),
                     "--quiet"]) == 0
    assert "already" in capsys.readouterr().err
    assert main(["replay", "--from-history", dsn, "--out", str(tmp_path / "from-history"),
                 "--quiet"]) == 0
    files = sorted(p.name for p in (tmp_path / "from-file").iterdir())
    assert "rejected.jsonl" in files
    for name in files:
        assert ((tmp_path / "from-history" / name).read_bytes()
                == (tmp_path / "from-file" / name).read_bytes()), name
    with connect(dsn) as history:
        assert history.rows("SELECT count() FROM raw_events") == [(6,)]
        assert audit(history) == []
