"""Operations shared by every long-running command: Prometheus metrics, the
/healthz + /readyz + /metrics server, and JSON logs (process, sink, serve, produce)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    """The processor's metrics, in a registry of their own (one per processor)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.events_in = Counter("greekstream_events_in", "input records applied", registry=r)
        self.events_out = Counter(
            "greekstream_events_out", "output events committed", ["type"], registry=r)
        self.rejections = Counter(
            "greekstream_rejections", "rejected records by reason", ["reason"], registry=r)
        self.lag = Gauge(
            "greekstream_consumer_lag", "records not yet applied", ["topic", "partition"],
            registry=r)
        self.latency = Histogram(
            "greekstream_quote_to_exposure_seconds",
            "quote produced (record timestamp) -> its exposures committed",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r)
        self.checkpoint_age = Gauge(
            "greekstream_checkpoint_age_seconds", "seconds since the last checkpoint", registry=r)
        self.transactions = Counter(
            "greekstream_transactions", "transactions by outcome", ["outcome"], registry=r)
        self.recovery_seconds = Gauge(
            "greekstream_recovery_seconds", "duration of the last restore", registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


Probe = Callable[[], dict[str, Any]]


def serve_ops(
    host: str, port: int, health: Probe, ready: Probe | None = None,
    metrics: Metrics | None = None,
) -> ThreadingHTTPServer:
    """Serve /healthz and /readyz on a thread: the probe's dict as JSON, 200 when its
    "status" is "ok", else 503. Without ``ready`` /readyz answers what /healthz does (the
    sink); with ``metrics`` /metrics serves them (the processor); any other path is 404.
    The one health server of every long-running command that has no web framework."""
    probes = {"/healthz": health, "/readyz": ready or health}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/metrics" and metrics is not None:
                self._send(200, metrics.exposition(), CONTENT_TYPE_LATEST)
                return
            probe = probes.get(path)
            if probe is None:
                self.send_error(404)
                return
            body = probe()
            code = 200 if body.get("status") == "ok" else 503
            self._send(code, orjson.dumps(body), "application/json")

        def _send(self, code: int, payload: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    return server


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and any ``extra=`` fields."""

    # the record's own attributes, and uvicorn's ANSI-coloured copy of the message
    _BASE = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
        "message", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._BASE:
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def json_logging(level: str) -> None:
    """The one log setup of every long-running command: one JSON object a line on stderr
    for every logger (uvicorn's too, when it runs with ``log_config=None``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
