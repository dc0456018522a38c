"""/healthz and /readyz answer while every request thread is busy (api/app.py).

FastAPI runs a sync route in a thread of anyio's pool (40 threads). Both probes were sync
routes, so with 40 requests waiting (for a pooled connection, up to
``queries.connection_wait_s``; on a slow query, up to ``query_timeout_s``; a replay, up to
``replay_timeout_s``) the probes queued behind them: past the chart's 3 s probe timeout
the pod was unready, then restarted by its liveness probe, for load that was no outage
(docs/history.md). On a real chDB store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from greekstream.api.app import Service, create_app
from greekstream.api.tokens import Scope, Tokens, digest
from greekstream.history.client import History, connect
from greekstream.history.migrate import migrate
from greekstream.settings import QuerySettings

pytestmark = pytest.mark.timeout(120)
TOKEN = "a-desk-token-of-16+-chars"
BUSY = 45  # requests in flight: more than anyio's 40 worker threads
WAIT_S = 6.0  # how long each of them waits for a pooled connection


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    with connect(f"chdb://{tmp_path_factory.mktemp('chdb')}", create=True) as history:
        migrate(history)
        yield history


@pytest.mark.parametrize("probe", ["/healthz", "/readyz"])
def test_a_probe_answers_while_every_request_thread_waits(store: History, probe: str) -> None:
    app = create_app(store, Tokens({digest(TOKEN): Scope("desk", None)}),
                     QuerySettings(connections=1, connection_wait_s=WAIT_S))
    service: Service = app.state.service

    async def run() -> tuple[httpx.Response, float, list[int]]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                     timeout=60) as client:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            busy = [asyncio.create_task(client.get("/v1/books", headers=auth))
                    for _ in range(BUSY)]
            await asyncio.sleep(0.5)  # every worker thread now waits for the connection
            started = time.monotonic()
            answer = await client.get(probe)
            took = time.monotonic() - started
            return answer, took, [r.status_code for r in await asyncio.gather(*busy)]

    try:
        with ExitStack() as held:
            held.enter_context(service.pool.take())  # the one connection, as a slow query
            answer, took, statuses = asyncio.run(run())
    finally:
        service.close()
    assert took < 2.0, f"{probe} waited {took:.1f} s behind {BUSY} requests"
    assert answer.status_code == 200, answer.text
    assert statuses == [503] * BUSY  # they did wait, each for its connection_wait_s
