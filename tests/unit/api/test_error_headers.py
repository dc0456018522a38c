"""An unhandled error in a route is a JSON 500 that carries the security headers (before,
Starlette's outermost middleware answered it in plain text, outside SecurityHeaders)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from greekstream.api.app import SecurityHeaders


async def _boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("a bug in a route")


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("fine")


async def _half(request: Request) -> StreamingResponse:
    async def body():  # type: ignore[no-untyped-def]
        yield b"first part"
        raise RuntimeError("a bug mid-stream")
    return StreamingResponse(body())


def _get(path: str) -> httpx.Response:
    # as create_app stacks it: Starlette's ServerErrorMiddleware outermost, then ours
    app = Starlette(routes=[Route("/boom", _boom), Route("/ok", _ok), Route("/half", _half)],
                    middleware=[Middleware(SecurityHeaders)])

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path)

    return asyncio.run(go())


def test_an_unhandled_error_is_a_json_500_with_the_security_headers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="greekstream.serve"):
        r = _get("/boom")
    assert r.status_code == 500
    assert r.json() == {"error": "internal_error",
                        "detail": "internal error; the server log has the details"}
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert "a bug in a route" in caplog.text  # the trace is in the log, not the answer
    assert _get("/ok").text == "fine"


def test_an_error_after_the_response_began_is_not_answered_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Once the status line is sent nothing else can be: the error goes on to Starlette,
    and the client gets what was sent, not a second response."""
    with caplog.at_level(logging.ERROR, logger="greekstream.serve"):
        r = _get("/half")
    assert (r.status_code, r.content) == (200, b"first part")
    assert "internal error" not in caplog.text
