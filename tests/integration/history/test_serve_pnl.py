"""The P&L routes over a real chDB history: P&L as of a time = `replay --as-of`, vega by
expiry = the replay's, explain json = `explain` on the file, the waterfall png; errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.history.conftest import serving_app

from greekstream.api.tokens import fingerprint
from greekstream.core.term_structure import vega_by_expiry
from greekstream.core.timeutil import parse_ts
from greekstream.reports.tables import PNL_FIELDS
from greekstream.runtime.explain import explain_window
from greekstream.runtime.replay import read_records, replay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ALL = "z" * 32  # conftest's tokens_file
DESK_A = "a" * 32
AT = "2026-03-02T01:17:30.5Z"


def call(client: httpx.Client, path: str, token: str = ALL, **params: Any) -> httpx.Response:
    return client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


def test_pnl_vega_terms_and_explain_match_the_replay(shared_service_url: str,
                                                     events_file: Path) -> None:
    moment = parse_ts(AT)
    engine = replay(read_records(events_file), as_of_us=moment, keep_outputs=False).engine
    with httpx.Client(base_url=shared_service_url, timeout=120) as client:
        got = call(client, "/v1/books/desk-b/pnl", at=AT)
        assert got.status_code == 200, got.text
        want = [r for r in engine.exposures(moment) if r.book == "desk-b"]
        assert [(g["underlying"], *(g[k] for k in PNL_FIELDS), g["funding_usd_per_day"])
                for g in got.json()] == [(r.underlying, *(r.pnl[k] for k in PNL_FIELDS),
                                          r.funding_usd_per_day) for r in want if r.pnl]
        assert any(g["total_usd"] != 0.0 for g in got.json())
        assert {g["as_of"] for g in got.json()} == {"2026-03-02T01:17:30.500Z"}
        # the same moment with an offset: the same rows, as_of in UTC (it echoed the text)
        offset = call(client, "/v1/books/desk-b/pnl", at="2026-03-02T02:47:30.5+01:30")
        assert offset.json() == got.json(), offset.text

        terms = call(client, "/v1/books/desk-b/vega-by-expiry", at=AT)
        assert terms.status_code == 200, terms.text
        assert terms.json() == [t for t in vega_by_expiry(engine, moment)
                                if t["book"] == "desk-b"]
        assert len(terms.json()) > 1

        window = {"from": "2026-03-02T00:30:00Z", "to": "2026-03-02T01:30:00Z"}
        explained = call(client, "/v1/books/desk-b/explain", **window)
        assert explained.status_code == 200, explained.text
        assert explained.json() == explain_window(
            read_records(events_file), parse_ts(window["from"]), parse_ts(window["to"]),
            "desk-b")
        png = call(client, "/v1/books/desk-b/explain", format="png", **window)
        assert png.headers["content-type"] == "image/png"
        assert png.content[:8] == b"\x89PNG\r\n\x1a\n"

        assert call(client, "/v1/books/desk-b/pnl", token=DESK_A, at=AT).status_code == 403
        backwards = call(client, "/v1/books/desk-b/explain",
                         **{"from": window["to"], "to": window["from"]})
        assert backwards.status_code == 400 and "after" in backwards.text


def test_pnl_routes_replay_within_the_tokens_slots_and_the_timeout(
    shared_stored: str, tokens_file: Path
) -> None:
    """Each P&L route replays the book's stored history, so it runs as every replay of
    the service does (docs/history.md, "Concurrency"): 429 with Retry-After while the
    token's replay slot is taken, 504 past the replay timeout. They ran on the request
    path before, each holding a connection, as many at once as a token sent."""
    window = {"from": "2026-03-02T00:30:00Z", "to": "2026-03-02T01:30:00Z"}
    routes = [("/v1/books/desk-b/pnl", {"at": AT}),
              ("/v1/books/desk-b/vega-by-expiry", {"at": AT}),
              ("/v1/books/desk-b/explain", {**window, "format": "png"})]
    with serving_app(shared_stored, tokens_file) as (url, app), \
            httpx.Client(base_url=url, timeout=120) as client:
        replays = app.state.service.replays
        with replays.slot(fingerprint(ALL)):  # the token's one replay runs
            for path, params in routes:
                busy = call(client, path, **params)
                assert busy.status_code == 429, (path, busy.text)
                assert "Retry-After" in busy.headers and "replay" in busy.json()["detail"]
        replays.timeout_s = 0.001
        for path, params in routes:
            slow = call(client, path, **params)
            assert slow.status_code == 504, (path, slow.text)
            assert "longer than" in slow.json()["detail"]
            deadline = time.monotonic() + 120  # the worker keeps the slot until it ends
            while replays.running(fingerprint(ALL)):
                assert time.monotonic() < deadline
                time.sleep(0.05)
