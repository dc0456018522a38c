"""`greekstream process` at start-up: a bad scenario file is a clear error before any
Kafka work; a broker that is not up yet is waited for (logged), not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "greekstream.cli", "process", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_a_bad_scenario_file_is_a_clear_error(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "GREEKSTREAM_ENGINE__SCENARIOS_FILE": str(tmp_path / "none.yaml")}
    proc = process("--bootstrap", f"127.0.0.1:{closed_port()}", env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert b"no such scenario file" in err and b"Traceback" not in err


def test_an_unreachable_broker_is_waited_for_with_backoff() -> None:
    proc = process("--bootstrap", f"127.0.0.1:{closed_port()}")
    try:
        deadline = time.monotonic() + 60
        warnings: list[dict[str, object]] = []
        assert proc.stderr is not None
        while time.monotonic() < deadline and len(warnings) < 2:
            line = proc.stderr.readline()
            if line.startswith(b"{"):
                doc = orjson.loads(line)
                if doc.get("event") == "broker_trouble":
                    warnings.append(doc)
        assert len(warnings) == 2, "two retries logged"
        assert proc.poll() is None, "still waiting, not crashed"
        assert "BOOTSTRAP_SERVERS" in str(warnings[0]["msg"])
    finally:
        proc.kill()
        proc.communicate(timeout=10)  # reaps it and closes both pipes
