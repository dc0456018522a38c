"""`greekstream explain FILE --book B`: a book no event names is an error listing the
known books (exit 2), as `stress` and `var` say, and as `explain --from-history` says;
not an empty explain that reads as "the book had nothing in the window"."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.cli import main

WINDOW = ["--from", "2026-03-02T01:00:00Z", "--to", "2026-03-02T01:30:00Z"]
EVENTS = b"""\
{"type":"instrument","event_id":"i1","ts":"2026-03-02T00:00:00.000Z","instrument_id":"BTC-PERPETUAL","kind":"perpetual","underlying":"BTC","settlement":"inverse","contract_size":10.0}
{"type":"index","event_id":"x1","ts":"2026-03-02T00:00:00.000Z","underlying":"BTC","price":87250.0}
{"type":"quote","event_id":"q1","ts":"2026-03-02T00:00:00.000Z","instrument_id":"BTC-PERPETUAL","mark_price":87232.0,"bid":87231.0,"ask":87233.0}
{"type":"trade","event_id":"t1","ts":"2026-03-02T00:01:00.000Z","book":"desk-a","instrument_id":"BTC-PERPETUAL","side":"buy","quantity":100.0,"price":87232.0}
{"type":"quote","event_id":"q2","ts":"2026-03-02T01:10:00.000Z","instrument_id":"BTC-PERPETUAL","mark_price":88232.0,"bid":88231.0,"ask":88233.0}
{"type":"trade","event_id":"t2","ts":"2026-03-02T02:00:00.000Z","book":"desk-late","instrument_id":"BTC-PERPETUAL","side":"buy","quantity":100.0,"price":88232.0}
"""


@pytest.fixture
def events(tmp_path: Path) -> str:
    path = tmp_path / "events.jsonl"
    path.write_bytes(EVENTS)
    return str(path)


def test_a_book_no_event_names_is_a_usage_error(
        events: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", events, *WINDOW, "--book", "desk_a", "--format", "table"]) == 2
    out = capsys.readouterr()
    assert "no positions" not in out.out
    first, hint = out.err.splitlines()
    assert first == ("greekstream explain: error: unknown book 'desk_a': no event at or "
                     "before --to has it")
    assert "desk-a" in hint


def test_a_book_whose_first_event_is_after_the_window_is_unknown_there(
        events: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", events, *WINDOW, "--book", "desk-late"]) == 2
    assert "known books: desk-a\n" in capsys.readouterr().err


def test_a_known_book_is_explained(events: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", events, *WINDOW, "--book", "desk-a", "--format", "table"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert "desk-a" in out.out
