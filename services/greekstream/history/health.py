"""A tiny /healthz endpoint for processes without a web framework (the sink)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


def serve_health(host: str, port: int, status: Callable[[], dict[str, Any]]) -> ThreadingHTTPServer:
    """Serve GET /healthz (200 when status()["status"] == "ok", else 503) on a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/healthz", "/readyz"):
                self.send_error(404)
                return
            body = status()
            payload = orjson.dumps(body)
            self.send_response(200 if body.get("status") == "ok" else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="healthz", daemon=True).start()
    return server
