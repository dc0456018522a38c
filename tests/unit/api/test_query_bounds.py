"""Ordinary queries are bounded (api/app.py ``Service.db``, api/pool.py): a request waits
at most ``queries.connection_wait_s`` for a pooled connection (then a 503 with
Retry-After, the store busy), ClickHouse stops a query past ``queries.query_timeout_s``
(``max_execution_time``: a 504), and /readyz answers within ``READY_WAIT_S`` whatever
the pool's queries do. Before, eight slow queries made every other request, /readyz
too, wait without bound. On a real chDB store."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from greekstream.api.app import READY_WAIT_S, Service, create_app
from greekstream.api.tokens import Scope, Tokens, digest
from greekstream.history.client import History, connect
from greekstream.history.migrate import migrate
from greekstream.settings import QuerySettings

pytestmark = pytest.mark.timeout(120)
TOKEN = "a-desk-token-of-16+-chars"
# seconds of CPU on any machine: ClickHouse must stop it, not finish it
SLOW = "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) % 7 = 3"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    with connect(f"chdb://{tmp_path_factory.mktemp('chdb')}", create=True) as history:
        migrate(history)
        yield history


@pytest.fixture
def serve(store: History) -> Iterator[Any]:
    """``serve(settings)``: the app over the store (closed after the test)."""
    made: list[FastAPI] = []

    def make(settings: QuerySettings) -> FastAPI:
        made.append(create_app(store, Tokens({digest(TOKEN): Scope("desk", None)}), settings))
        return made[-1]

    yield make
    for app in made:
        app.state.service.close()


def _get_within(app: FastAPI, path: str, seconds: float) -> httpx.Response | None:
    """GET ``path``, or None if no answer came within ``seconds`` (the request is left
    to finish in its thread once the test gives its connections back)."""
    answers: list[httpx.Response] = []

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})

    thread = threading.Thread(target=lambda: answers.append(asyncio.run(get())), daemon=True)
    thread.start()
    thread.join(seconds)
    return answers[0] if answers else None


def _get_while_all_held(app: FastAPI, path: str) -> tuple[httpx.Response | None, float]:
    """GET ``path`` while the test holds every pooled connection, as that many slow
    queries would: the answer (None: none within 5 s) and how long it took."""
    service: Service = app.state.service
    with ExitStack() as stack:
        for _ in range(service.pool.size):
            stack.enter_context(service.pool.take())
        started = time.monotonic()
        answer = _get_within(app, path, 5.0)
        return answer, time.monotonic() - started


def test_a_request_that_gets_no_connection_within_the_bound_is_a_503(serve: Any) -> None:
    app = serve(QuerySettings(connections=2, connection_wait_s=0.3))
    r, took = _get_while_all_held(app, "/v1/books")
    assert r is not None, "the request waited for a connection without bound"
    assert r.status_code == 503, r.text
    assert 0.3 <= took < 3.0, took
    assert r.headers["retry-after"] == "2"
    body = r.json()
    assert body["error"] == "history_busy"
    assert body["detail"] == (
        "the history store is busy: all 2 of this service's ClickHouse connections stayed in "
        "use for 0.3 s (queries.connection_wait_s); retry after a few seconds, or narrow "
        "from/to if you asked for a long range")
    assert body["retry_after_s"] == 2
    assert _get_within(app, "/v1/books", 5.0).status_code == 200  # type: ignore[union-attr]


def test_readyz_answers_within_its_bound_while_every_connection_is_in_use(serve: Any) -> None:
    """A pool in use is load, not ClickHouse down: still ready (the requests that find no
    connection get a 503 and Retry-After); /readyz checks ClickHouse on a connection of
    its own, and says the pool is busy."""
    app = serve(QuerySettings(connections=2))
    r, took = _get_while_all_held(app, "/readyz")
    assert r is not None, "/readyz waited for a pooled connection without bound"
    assert took < READY_WAIT_S + 1.0, took
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "connections": 2, "connections_free": 0}
    assert _get_within(app, "/readyz", 5.0).json()["connections_free"] == 2  # type: ignore[union-attr]


def test_readyz_is_unready_within_its_bound_when_clickhouse_does_not_answer(
    serve: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = serve(QuerySettings(connections=1))
    hung = threading.Event()
    monkeypatch.setattr(History, "rows", lambda *_a, **_k: hung.wait(30))
    try:
        started = time.monotonic()
        r = _get_within(app, "/readyz", 5.0)
        took = time.monotonic() - started
        assert r is not None and took < READY_WAIT_S + 1.0, took
        assert r.status_code == 503, r.text
        assert r.json() == {"status": "unavailable", "error": "history_unavailable",
                            "detail": "ClickHouse did not answer "
                            f"SELECT 1 within {READY_WAIT_S:g} s"}
        # the check still hangs: the next probe waits for it, not for a second one
        assert _get_within(app, "/readyz", 5.0).status_code == 503  # type: ignore[union-attr]
    finally:
        hung.set()


def test_a_query_past_query_timeout_s_is_a_504_without_internals(serve: Any) -> None:
    """A real slow query on chDB: ClickHouse stops it at max_execution_time."""
    app = serve(QuerySettings(connections=2, query_timeout_s=0.5))
    service: Service = app.state.service

    @app.get("/slow")
    def slow() -> list[Any]:
        with service.db() as h:
            return h.rows(SLOW)

    started = time.monotonic()
    r = _get_within(app, "/slow", 30.0)
    took = time.monotonic() - started
    assert r is not None and r.status_code == 504, r and r.text
    assert took < 5.0, took  # stopped at 0.5 s, not run to its end
    body = r.json()
    assert body == {"error": "query_timeout", "detail": (
        "the query took longer than 0.5 s (queries.query_timeout_s), so ClickHouse stopped "
        "it; narrow from/to, ask for one book, or retry later")}
    assert "SELECT" not in r.text and "numbers" not in r.text and "chdb" not in r.text
    # the connection went back to the pool and the next query runs
    assert _get_within(app, "/v1/books", 10.0).status_code == 200  # type: ignore[union-attr]


def test_every_pooled_connection_runs_with_max_execution_time(serve: Any) -> None:
    app = serve(QuerySettings(connections=3, query_timeout_s=7))
    service: Service = app.state.service
    with ExitStack() as stack:
        held = [stack.enter_context(service.pool.take()) for _ in range(3)]
        for h in held:
            ((value,),) = h.rows("SELECT getSetting('max_execution_time')")
            assert float(value) == 7
