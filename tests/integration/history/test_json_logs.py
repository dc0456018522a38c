"""Every long-running command logs through the one JSON setup (kafka/ops.json_logging):
`serve` (uvicorn's own lines included) and `sink`, run as a person runs them, against a
real chDB store and a real Tansu broker. (`process` is checked in tests/integration/kafka.)"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _printed_url(lines: list[str]) -> str:
    """GET the address `serve` printed (--port 0: the port it picked, not 0)."""
    said = next(line for line in lines if line.startswith("greekstream serve: open http://"))
    url = said.split("open ")[1].split(" ")[0]
    with urllib.request.urlopen(url, timeout=10) as answer:
        return f"probe: {answer.status} from {url}"


def _run_until(args: list[str], marker: str, env: dict[str, str],
               probe: Callable[[list[str]], str] | None = None,
               sig: int = signal.SIGTERM) -> tuple[int, list[str]]:
    """Start `greekstream ARGS`, read its stderr until a line holding ``marker``, run
    ``probe`` (its answer joins the lines), then send it ``sig``: (exit status, every
    stderr line)."""
    proc = subprocess.Popen([sys.executable, "-m", "greekstream.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    assert proc.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + 90
    try:
        while not any(marker in line for line in seen):
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            assert line is not None, "\n".join(seen)[-3000:]
            seen.append(line)
        if probe is not None:
            seen.append(probe(seen))
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    proc.stderr.close()
    return code, seen


def _json_lines(lines: list[str], but: tuple[str, ...] = ()) -> list[dict[str, object]]:
    docs = []
    for line in lines:
        if not line.strip() or line.startswith(but):
            continue
        doc = orjson.loads(line)  # a line that is not JSON fails here, with the line
        assert {"ts", "level", "logger", "msg"} <= set(doc), line
        assert "color_message" not in doc, line
        docs.append(doc)
    return docs


def test_serve_logs_json_uvicorn_included(tmp_path: Path) -> None:
    store = f"chdb://{tmp_path}/store"
    subprocess.run([sys.executable, "-m", "greekstream.cli", "history", "migrate", store],
                   check=True, capture_output=True, timeout=120)
    code, lines = _run_until(
        ["serve", "--dsn", store, "--port", "0",
         "--new-token", str(tmp_path / "tokens")],
        "Application startup complete", {"GREEKSTREAM_LOG_LEVEL": "INFO"}, probe=_printed_url)
    docs = _json_lines(lines, but=("greekstream serve: open http://", "probe: "))
    said = [(d["logger"], str(d["msg"])) for d in docs]
    assert ("uvicorn.error", "Application startup complete.") in said, lines
    assert ("uvicorn.error", "Shutting down") in said, lines
    assert code == 0, lines  # a graceful stop on SIGTERM
    assert any(line.startswith("probe: 200 from http://127.0.0.1:") for line in lines), lines


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sink_logs_json(kafka_bootstrap: str, tmp_path: Path, sig: signal.Signals) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    from greekstream.history.sink import topic_names

    prefix = f"jsonlogs{sig.name.lower()}"
    inputs, outputs = topic_names(prefix)  # the sink stops on a topic that is not there
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)
                                       for t in inputs + outputs]).values():
        future.result(timeout=30)
    code, lines = _run_until(
        ["sink", "--bootstrap", kafka_bootstrap, "--dsn", f"chdb://{tmp_path}/store",
         "--port", "0", "--group", "json-logs"],
        '"msg":"started"', {"GREEKSTREAM_LOG_LEVEL": "INFO",
                             "GREEKSTREAM_KAFKA__TOPIC_PREFIX": prefix}, sig=sig)
    docs = _json_lines(lines)
    started = [d for d in docs if d["msg"] == "started"]
    assert len(started) == 1, lines
    assert (started[0]["logger"], started[0]["event"], started[0]["group"]) == (
        "greekstream.sink", "started", "json-logs")
    # SIGTERM (a pod's stop) and Ctrl-C: the same graceful stop, logged with its signal
    assert [d["signal"] for d in docs if d.get("event") == "stopping"] == [sig.name], lines
    assert code == 0, lines
