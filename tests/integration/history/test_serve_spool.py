"""The replay routes over a real chDB history spool the book's records to a file for the
worker (api/app.py ``_in_replay_slot``): no request leaves its file behind, and a read
from the store counts against the replay timeout (504, the connection given back)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.integration.history.conftest import ALL_TOKEN, DESK_A_TOKEN, serving_app

from greekstream.api import app as app_module
from greekstream.api import pnl_routes
from greekstream.api.tokens import fingerprint
from greekstream.history.replay_io import iter_raw
from greekstream.settings import QuerySettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

AUTH = {"Authorization": f"Bearer {ALL_TOKEN}"}
AT = "2026-03-02T01:17:30.5Z"
WHAT_IF = {"trades": [{"instrument_id": "BTC-PERPETUAL", "side": "sell", "quantity": 20000}]}


def test_no_replay_route_leaves_its_spool_file(shared_stored: str, tokens_file: Path,
                                               tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    window = {"from": "2026-03-02T00:30:00Z", "to": "2026-03-02T01:30:00Z"}
    asks = [("get", "/v1/books/desk-b/pnl", {"at": AT, "format": "csv"}),
            ("get", "/v1/books/desk-b/vega-by-expiry", {"at": AT}),
            ("get", "/v1/books/desk-b/explain", window),
            ("get", "/v1/exposures", {"at": AT, "mode": "replay", "book": "desk-b"}),
            ("post", "/v1/books/desk-a/what-if", {}),
            ("post", "/v1/books/desk-a/what-if", {})]  # the cached state: records not read
    with serving_app(shared_stored, tokens_file) as (url, app), \
            httpx.Client(base_url=url, timeout=120, headers=AUTH) as client:
        app.state.service.replays.spool_dir = spool_dir
        for method, path, params in asks:
            if method == "get":
                r = client.get(path, params=params)
            else:
                r = client.post(path, json=WHAT_IF)
            assert r.status_code == 200, (path, r.text)
            assert list(spool_dir.iterdir()) == [], path
        assert app.state.service.states.hits == 1


def test_a_slow_read_is_a_504_that_frees_its_connection_and_file(
    shared_stored: str, tokens_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records stream from the store at one every 20 ms (the sample day would take
    minutes): the read stops at the replay timeout, with the route's 504, and the one
    connection of the pool answers the next query."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    closed: list[bool] = []

    def slow(*args: Any, **kwargs: Any) -> Iterator[tuple[bytes, str]]:
        records = iter_raw(*args, **kwargs)
        try:
            for record in records:
                time.sleep(0.02)
                yield record
        finally:
            records.close()  # type: ignore[attr-defined]
            closed.append(True)

    monkeypatch.setattr(pnl_routes, "iter_raw", slow)
    settings = QuerySettings(connections=1, replay_timeout_s=1.0)
    with serving_app(shared_stored, tokens_file, settings) as (url, app), \
            httpx.Client(base_url=url, timeout=60, headers=AUTH) as client:
        app.state.service.replays.spool_dir = spool_dir
        started = time.monotonic()
        r = client.get("/v1/books/desk-b/pnl", params={"at": AT})
        took = time.monotonic() - started
        assert r.status_code == 504, r.text
        assert r.json()["detail"] == ("the replay took longer than 1 s; it replays the "
                                      "book's whole stored history up to then")
        assert took < 10 and closed == [True]
        assert list(spool_dir.iterdir()) == []
        assert app.state.service.replays.running(fingerprint(ALL_TOKEN)) == 0  # no worker
        assert client.get("/v1/books", timeout=10).status_code == 200


def test_a_limited_token_replays_only_its_books_records(
    shared_stored: str, tokens_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/v1/exposures?mode=replay without ?book=: a token that sees desk-a replays the
    market's records and desk-a's, not every desk's (they cost it replay time and spool
    room, and were only filtered out of the answer), with the same rows as before."""
    read: list[str] = []

    def counting(*args: Any, **kwargs: Any) -> Iterator[tuple[bytes, str]]:
        records = iter_raw(*args, **kwargs)
        try:
            for raw, source in records:
                try:
                    doc = orjson.loads(raw)
                except orjson.JSONDecodeError:  # a stored line that is not JSON
                    doc = {}
                read.append(doc.get("book", "") if isinstance(doc, dict) else "")
                yield raw, source
        finally:
            records.close()  # type: ignore[attr-defined]

    monkeypatch.setattr(app_module, "iter_raw", counting)
    params = {"at": AT, "mode": "replay"}
    with serving_app(shared_stored, tokens_file) as (url, _app), \
            httpx.Client(base_url=url, timeout=120) as client:
        every = client.get("/v1/exposures", params=params, headers=AUTH)
        assert every.status_code == 200, every.text
        read_by_all = set(read)
        read.clear()
        mine = client.get("/v1/exposures", params=params,
                          headers={"Authorization": f"Bearer {DESK_A_TOKEN}"})
        assert mine.status_code == 200, mine.text
    assert {"desk-a", "desk-b"} <= read_by_all  # the store holds other desks' records
    assert read and set(read) <= {"desk-a", ""}, sorted(set(read))
    assert "" in read  # the market's records are read
    rows = mine.json()
    assert rows and rows == [r for r in every.json() if r["book"] == "desk-a"]
