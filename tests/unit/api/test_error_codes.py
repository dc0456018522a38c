"""Every error answer of `serve` carries a machine-readable ``error`` code beside its
``detail`` (api/app.py ``coded_error``, docs/history.md "Error answers"). Before, only the
503 ``history_busy`` and the 504 ``query_timeout`` did: a replay's 429 (slot taken), 504
(replay timeout), 503 (worker died, spools full) and 507 (spool limit, disk full), and
every 400/401/403/404/413/422/500, were ``{"detail": ...}`` alone, so a client had to read
the words to tell a replay timeout from a query timeout. On a real chDB store."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from greekstream.api import app as app_module
from greekstream.api.app import MAX_BODY_BYTES, Service, create_app
from greekstream.api.tokens import Scope, Tokens, digest
from greekstream.history.client import History, connect
from greekstream.history.migrate import migrate
from greekstream.history.spool import SpoolTooLarge
from greekstream.settings import QuerySettings

pytestmark = pytest.mark.timeout(120)
TOKEN = "a-desk-token-of-16+-chars"
DESK_A = "a-token-for-desk-a-only"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPLAY = "/v1/exposures?at=2026-03-01T00:00:10Z&mode=replay"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    from greekstream.history import write_replay
    from greekstream.runtime.replay import read_records, replay

    folder = tmp_path_factory.mktemp("chdb")
    dsn = f"chdb://{folder / 'store'}"
    lines = [
        {"type": "instrument", "event_id": "i", "ts": "2026-03-01T00:00:00Z",
         "instrument_id": "P", "kind": "perpetual", "underlying": "BTC",
         "settlement": "linear", "contract_size": 1},
        {"type": "index", "event_id": "x", "ts": "2026-03-01T00:00:01Z", "underlying": "BTC",
         "price": 100.0},
        {"type": "quote", "event_id": "q", "ts": "2026-03-01T00:00:02Z", "instrument_id": "P",
         "mark_price": 100.0},
        {"type": "trade", "event_id": "t", "ts": "2026-03-01T00:00:03Z", "book": "desk-a",
         "instrument_id": "P", "side": "buy", "quantity": 1, "price": 100.0},
    ]
    path = folder / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    write_replay(dsn, read_records(path), replay(read_records(path)).outputs)
    with connect(dsn) as history:
        migrate(history)
        yield history


@pytest.fixture
def serve(store: History) -> Iterator[Any]:
    made: list[FastAPI] = []

    def make(settings: QuerySettings | None = None) -> FastAPI:
        tokens = Tokens({digest(TOKEN): Scope("desk", None),
                         digest(DESK_A): Scope("desk-a", frozenset({"desk-a"}))})
        made.append(create_app(store, tokens, settings or QuerySettings()))
        return made[-1]

    yield make
    for app in made:
        app.state.service.close()


def _request(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def _coded(r: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body.get("error") == error, body
    assert body["detail"], body
    return body


def test_a_replay_refused_for_a_busy_token_is_a_429_replay_busy(serve: Any) -> None:
    app = serve()
    service: Service = app.state.service
    with service.replays.slot("desk"):  # this token's one replay runs
        r = _request(app, "GET", REPLAY, headers=AUTH)
    body = _coded(r, 429, "replay_busy")
    assert r.headers["retry-after"] == "5" and body["retry_after_s"] == 5
    assert body["detail"] == ("this token already runs 1 replay(s); wait for it "
                              "(or use mode=stored)")


def test_a_replay_past_its_timeout_is_a_504_replay_timeout(serve: Any) -> None:
    """Not the 504 query_timeout of one query: a client tells them apart by the code."""
    app = serve(QuerySettings(connections=1, replay_timeout_s=0.3))
    service: Service = app.state.service
    with service.pool.take():  # the read waits for a connection past the deadline
        r = _request(app, "GET", REPLAY, headers=AUTH)
    body = _coded(r, 504, "replay_timeout")
    assert body["detail"].startswith("the replay took longer than 0.3 s; ")
    assert "retry_after_s" not in body


def test_a_replay_with_every_spool_taken_is_a_503_replays_full(serve: Any) -> None:
    app = serve(QuerySettings(replay_spools=1))
    service: Service = app.state.service
    held = service.replays.spool_file()
    try:
        r = _request(app, "GET", REPLAY, headers=AUTH)
    finally:
        held.remove()
    body = _coded(r, 503, "replays_full")
    assert r.headers["retry-after"] == "5" and body["retry_after_s"] == 5


def test_a_replay_whose_worker_died_is_a_503_replay_worker_died(
        serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = serve()
    service: Service = app.state.service

    def died(handed: list[Future[Any]], *_args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_exception(BrokenProcessPool("killed"))
        handed.append(future)
        return future

    monkeypatch.setattr(service.replays, "submit", died)
    r = _request(app, "GET", REPLAY, headers=AUTH)
    body = _coded(r, 503, "replay_worker_died")
    assert r.headers["retry-after"] == "5" and body["retry_after_s"] == 5


@pytest.mark.parametrize(("raised", "error"), [
    (SpoolTooLarge(3, 1 << 20), "replay_too_large"),
    (OSError(errno.ENOSPC, "No space left on device"), "spool_disk_full"),
])
def test_a_replay_the_spool_cannot_hold_is_a_507_that_names_why(
        serve: Any, monkeypatch: pytest.MonkeyPatch, raised: Exception, error: str) -> None:
    def spool(*_args: Any) -> int:
        raise raised

    monkeypatch.setattr(app_module, "spool", spool)
    _coded(_request(serve(), "GET", REPLAY, headers=AUTH), 507, error)


def test_every_other_error_answer_carries_a_code(serve: Any, tmp_path: Path) -> None:
    app = serve()
    cases = [
        (("GET", "/v1/books"), 401, "unauthorized"),
        (("GET", "/v1/exposures?at=yesterday"), 400, "bad_request"),
        (("GET", "/v1/books/desk-b/breaches"), 403, "forbidden"),
        (("GET", "/v1/books/nobody/breaches"), 404, "unknown_book"),
        (("GET", "/v1/books/desk-a/var"), 404, "not_found"),
        (("GET", "/v1/nothing-here"), 404, "not_found"),
        (("GET", "/static/nothing-here.js"), 404, "not_found"),
        (("DELETE", "/v1/books"), 405, "method_not_allowed"),
        (("GET", "/v1/top?at=2026-03-01T00:00:10Z&limit=0"), 422, "invalid_request"),
        (("POST", "/v1/books/desk-a/what-if"), 422, "invalid_request"),
        (("GET", "/v1/exposures?at=2020-01-01T00:00:00Z"), 400, "bad_request"),
    ]
    for (method, path), status, error in cases:
        token = DESK_A if "desk-b" in path else TOKEN
        headers = {} if status == 401 else {"Authorization": f"Bearer {token}"}
        r = _request(app, method, path, headers=headers)
        assert r.status_code == status, (path, r.text)
        assert r.json().get("error") == error, (path, r.text)
        assert r.headers["x-content-type-options"] == "nosniff"
    big = b"x" * (MAX_BODY_BYTES + 1)
    r = _request(app, "POST", "/v1/books/desk-a/what-if", content=big, headers=AUTH)
    _coded(r, 413, "body_too_large")

    async def chunks() -> Any:  # no Content-Length: refused as the bytes pass the limit
        for _ in range(3):
            yield b"x" * (MAX_BODY_BYTES // 2)

    r = _request(app, "POST", "/v1/books/desk-a/what-if", content=chunks(), headers=AUTH)
    _coded(r, 413, "body_too_large")
