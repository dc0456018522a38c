"""The one ops/health server (kafka/ops.py) that the processor and the sink both run:
real HTTP on loopback, no broker."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from greekstream.kafka.ops import Metrics, serve_ops


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


@pytest.fixture
def state() -> dict[str, Any]:
    return {"health": {"status": "ok", "rows_stored": 3}, "ready": {"status": "starting"}}


@pytest.fixture
def servers(state: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(sink-like base URL: one probe, no metrics; processor-like: two probes + metrics)"""
    metrics = Metrics()
    metrics.events_in.inc(7)
    sink = serve_ops("127.0.0.1", 0, lambda: state["health"])
    proc = serve_ops("127.0.0.1", 0, lambda: state["health"], lambda: state["ready"], metrics)
    try:
        yield (f"http://127.0.0.1:{sink.server_address[1]}",
               f"http://127.0.0.1:{proc.server_address[1]}")
    finally:
        for server in (sink, proc):
            server.shutdown()
            server.server_close()


def test_one_probe_answers_healthz_and_readyz_with_its_dict(
    servers: tuple[str, str], state: dict[str, Any]
) -> None:
    sink, _ = servers
    for path in ("/healthz", "/readyz", "/healthz?verbose=1"):
        code, ctype, body = _get(sink + path)
        assert (code, ctype, orjson.loads(body)) == (200, "application/json", state["health"])
    state["health"] = {"status": "degraded", "retries": 4}
    code, _, body = _get(sink + "/readyz")
    assert (code, orjson.loads(body)) == (503, {"status": "degraded", "retries": 4})
    assert _get(sink + "/metrics")[0] == 404  # the sink has no metrics
    assert _get(sink + "/nope")[0] == 404


def test_two_probes_and_metrics(servers: tuple[str, str], state: dict[str, Any]) -> None:
    _, proc = servers
    assert _get(proc + "/healthz")[0] == 200
    code, _, body = _get(proc + "/readyz")
    assert (code, orjson.loads(body)) == (503, {"status": "starting"})
    state["ready"] = {"status": "ok"}
    assert _get(proc + "/readyz")[0] == 200
    code, ctype, body = _get(proc + "/metrics")
    assert code == 200 and ctype.startswith("text/plain")
    assert b"greekstream_events_in_total 7.0" in body


def test_json_logging_writes_one_object_a_line_with_extras(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from greekstream.kafka.ops import json_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        json_logging("INFO")
        log = logging.getLogger("greekstream.test")
        log.debug("not shown at INFO")
        log.info("stored %d rows", 3, extra={"event": "stored", "color_message": "\x1b[1m"})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    docs = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(d["level"], d["logger"], d["msg"]) for d in docs] == [
        ("INFO", "greekstream.test", "stored 3 rows"), ("ERROR", "greekstream.test", "failed")]
    assert docs[0]["event"] == "stored" and "color_message" not in docs[0]
    assert str(docs[0]["ts"]).endswith("Z") and "ValueError: boom" in docs[1]["exc"]
