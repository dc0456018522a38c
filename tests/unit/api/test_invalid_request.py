"""The API's 422 (api/app.py ``invalid_request``) can always be written: a body nested
hundreds of levels deep (1 MiB, the body limit, holds 500,000 levels; Python's json reads
up to its recursion limit) echoed whole in ``input`` overflowed the recursion limit while
it was made JSON-safe: a 500 and a traceback of a thousand frames in the log, per request."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from greekstream.api.app import ECHO_DEPTH, SecurityHeaders, WhatIfRequest, invalid_request


def _post(body: bytes) -> httpx.Response:
    """``body`` to a route that takes the what-if body, as create_app sets it up."""
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_middleware(SecurityHeaders)

    @app.post("/what-if")
    def what_if(body: WhatIfRequest) -> dict[str, int]:
        return {"trades": len(body.trades)}

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/what-if", content=body,
                                     headers={"Content-Type": "application/json"})

    return asyncio.run(go())


def _depth(value: object) -> int:
    depth = 0
    while isinstance(value, list | dict):
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
        depth += 1
    return depth


@pytest.mark.parametrize("levels", [500, 900])
def test_a_deeply_nested_body_is_a_422_with_its_input_cut_short(
    levels: int, caplog: pytest.LogCaptureFixture,
) -> None:
    trade = b"[" * levels + b"]" * levels
    with caplog.at_level(logging.ERROR, logger="greekstream.serve"):
        r = _post(b'{"trades":[' + trade + b"]}")
        field = _post(b'{"trades":[{"side":"buy","quantity":1,"instrument_id":'
                      + trade + b"}]}")
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "trades", 0] and error["type"] == "model_attributes_type"
    assert 1 <= _depth(error["input"]) <= ECHO_DEPTH  # the levels past it: "..."
    assert field.status_code == 422, field.text
    assert field.json()["detail"][0]["loc"] == ["body", "trades", 0, "instrument_id"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "internal error" not in caplog.text


def test_a_shallow_input_is_echoed_whole_non_finite_numbers_as_strings() -> None:
    r = _post(b'{"trades":[{"side":"buy","quantity":NaN,"x":[[[-1e400]]]}]}')
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["input"] == {"side": "buy", "quantity": "NaN",
                                              "x": [[["-Infinity"]]]}
