"""bench/bench_api.py: a replay request that fails is reported, not taken for a replay
that ran beside the load."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_api  # noqa: E402


class _Api(BaseHTTPRequestHandler):
    """Answers the load's queries; every ``mode=replay`` request is refused."""

    def do_GET(self) -> None:
        if "mode=replay" in self.path:
            status, body = 503, b'{"detail": "replay workers are down"}'
        elif self.path.startswith("/v1/books/") and "/timeseries" in self.path:
            status, body = 200, orjson.dumps([{"bucket": "2026-03-01T00:00:00Z"}])
        elif self.path == "/v1/books":
            status, body = 200, orjson.dumps(["book-a"])
        else:
            status, body = 200, b"[]"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_failed_replays_are_counted_and_not_called_overlapped(
    api: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bench_api, "REQUESTS", 20)
    monkeypatch.setattr(bench_api.time, "sleep", lambda _s: None)
    got = bench_api.run_load(api, "2026-03-01T00:00:00Z")
    assert got["replays_overlapped"] == 0.0  # no replay ran: the table must not say "yes"
    assert got["replays_failed"] == 2
