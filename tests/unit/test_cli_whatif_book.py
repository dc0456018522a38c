"""`greekstream whatif --trades FILE` with a "book" no event has (a typo) is refused with
the known books, as the API's 404; it previewed an empty book: no breach, no intent."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from greekstream.cli import main

EVENTS = b"""\
{"type":"instrument","event_id":"i1","ts":"2026-03-02T00:00:00.000Z","instrument_id":"BTC-PERPETUAL","kind":"perpetual","underlying":"BTC","settlement":"inverse","contract_size":10.0}
{"type":"index","event_id":"x1","ts":"2026-03-02T00:00:00.000Z","underlying":"BTC","price":87250.0}
{"type":"quote","event_id":"q1","ts":"2026-03-02T00:00:00.000Z","instrument_id":"BTC-PERPETUAL","mark_price":87232.0,"bid":87231.0,"ask":87233.0}
{"type":"trade","event_id":"t1","ts":"2026-03-02T00:01:00.000Z","book":"desk-a","instrument_id":"BTC-PERPETUAL","side":"buy","quantity":100.0,"price":87232.0}
{"type":"limits","event_id":"l1","ts":"2026-03-02T00:02:00.000Z","book":"desk-new","underlying":"BTC","max_abs_delta":0.001}
"""


def _files(tmp_path: Path, book: str) -> tuple[str, str]:
    events, trades = tmp_path / "events.jsonl", tmp_path / "trades.jsonl"
    events.write_bytes(EVENTS)
    trade = {"book": book, "instrument_id": "BTC-PERPETUAL", "side": "sell", "quantity": 50}
    trades.write_bytes(orjson.dumps(trade) + b"\n")
    return str(events), str(trades)


def test_a_book_no_event_has_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, trades = _files(tmp_path, "desk_a")
    assert main(["whatif", events, "--trades", trades]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    first, hint = out.err.splitlines()
    assert first.startswith("greekstream whatif: error: unknown book 'desk_a'")
    assert "known books: desk-a, desk-new;" in hint


def test_a_known_book_is_previewed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, trades = _files(tmp_path, "desk-a")
    assert main(["whatif", events, "--trades", trades, "--format", "json"]) == 0
    assert '"book": "desk-a"' in capsys.readouterr().out


def test_a_book_with_limits_and_no_position_yet_is_previewed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # its first trade against its limits is the question a what-if answers
    events, trades = _files(tmp_path, "desk-new")
    assert main(["whatif", events, "--trades", trades, "--format", "json"]) == 0
    (preview,) = orjson.loads(capsys.readouterr().out)
    assert preview["book"] == "desk-new"
    assert [b["metric"] for b in preview["breaches_opened"]] == ["delta"]
