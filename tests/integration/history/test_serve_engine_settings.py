"""`serve` replays with the processors' engine settings (GREEKSTREAM_ENGINE__*), as
`exposure --as-of`, `replay` and `audit` do: an as-of exposure, a P&L, vega by expiry, an
explain and a what-if re-derive what the processors derived, not what the default
settings would have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.integration.history.conftest import serving_app

from greekstream.core.timeutil import parse_ts
from greekstream.core.whatif import HypotheticalTrade, what_if
from greekstream.history import write_replay
from greekstream.runtime.replay import read_records, replay
from greekstream.runtime.scenario_files import engine_config
from greekstream.settings import EngineSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ALL = {"Authorization": "Bearer " + "z" * 32}  # conftest's tokens_file
AT = "2026-03-01T00:01:00Z"
# the desk's processors trust an index move of up to 50% from one source (default 10%)
DESK = EngineSettings(oracle_max_jump=0.5)


def _events(folder: Path) -> Path:
    """A perpetual on BTC, a sourced index at 100 then 130 (a 30% move: held by the
    default guard, trusted by DESK's) and desk-a long 2 at 100."""
    def rec(type_: str, eid: str, second: int, **fields: object) -> bytes:
        return orjson.dumps({"type": type_, "event_id": eid,
                             "ts": f"2026-03-01T00:00:{second:02d}Z", **fields})

    lines = [rec("instrument", "i", 0, instrument_id="P", kind="perpetual", underlying="BTC",
                 settlement="linear", contract_size=1),
             rec("index", "x1", 1, underlying="BTC", price=100.0, source="feed"),
             rec("trade", "t1", 2, book="desk-a", instrument_id="P", side="buy",
                 quantity=2, price=100.0),
             rec("index", "x2", 30, underlying="BTC", price=130.0, source="feed")]
    path = folder / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    r = client.get(path, params=params, headers=ALL)
    assert r.status_code == 200, r.text
    return r.json()


def test_replays_use_the_engine_settings_the_service_was_given(
    dsn: str, tokens_file: Path, tmp_path: Path,
) -> None:
    events = _events(tmp_path)
    config = engine_config(DESK)
    write_replay(dsn, read_records(events), replay(read_records(events), config=config).outputs)
    moment = parse_ts(AT)
    desk = replay(read_records(events), as_of_us=moment, config=config).engine
    default = replay(read_records(events), as_of_us=moment).engine
    assert desk.index["BTC"] == 130.0 and default.index["BTC"] == 100.0  # the setting matters
    want = {r.underlying: r for r in desk.exposures(moment) if r.book == "desk-a"}
    trade = {"instrument_id": "P", "side": "sell", "quantity": 1}
    want_preview = what_if(replay(read_records(events), config=config).engine, "desk-a",
                           [HypotheticalTrade("P", "sell", 1)])
    with serving_app(dsn, tokens_file, engine=DESK) as (url, _app), \
            httpx.Client(base_url=url, timeout=120) as client:
        rows = _get(client, "/v1/exposures", at=AT, book="desk-a", mode="replay")
        assert [(r["underlying"], r["delta_usd"]) for r in rows] == [
            ("BTC", want["BTC"].delta_usd)] and want["BTC"].delta_usd == pytest.approx(260.0)
        # the P&L, vega and explain routes run through the same worker call (configured)
        assert _get(client, "/v1/books/desk-a/pnl", at=AT)[0]["underlying"] == "BTC"
        r = client.post("/v1/books/desk-a/what-if", json={"trades": [trade]}, headers=ALL)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["underlyings"][0]["after"]["delta_usd"] == pytest.approx(130.0)
        assert [u["after"]["delta_usd"] for u in got["underlyings"]] == [
            u["after"]["delta_usd"] for u in want_preview["underlyings"]]
        # a second preview restores the state the first built (StateCache): the same
        again = client.post("/v1/books/desk-a/what-if", json={"trades": [trade]}, headers=ALL)
        assert again.json() == got


def test_serve_reads_the_processors_engine_settings(
    dsn: str, tokens_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`greekstream serve` hands create_app the GREEKSTREAM_ENGINE__* settings."""
    events = _events(tmp_path)
    write_replay(dsn, read_records(events), [])
    from greekstream.api import app as api_app
    from greekstream.cli import build_parser
    from greekstream.commands import serve

    given: list[Any] = []

    class Started(Exception):
        pass

    def fake_create_app(*args: Any) -> None:
        given.extend(args)
        raise Started

    monkeypatch.setattr(api_app, "create_app", fake_create_app)
    monkeypatch.setenv("GREEKSTREAM_ENGINE__ORACLE_MAX_JUMP", "0.5")
    monkeypatch.setenv("GREEKSTREAM_CLICKHOUSE_DSN", dsn)
    args = build_parser().parse_args(["serve", "--tokens-file", str(tokens_file)])
    with pytest.raises(Started):
        serve._serve(args, [])
    assert given[-1] == DESK
