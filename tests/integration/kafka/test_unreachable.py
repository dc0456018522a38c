"""Every Kafka command against a broker that is not there: one clear error line (plus its
hint), exit status 2, no librdkafka FAIL lines and no traceback, within --connect-timeout."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


COMMANDS = {
    "produce": ["produce", "{events}"],
    "produce-port-1": ["produce", "{events}", "--bootstrap", "127.0.0.1:1"],
    "produce-stdin": ["produce", "-"],  # a live feed: the broker is checked before reading
    "topics create": ["topics", "create"],
    "process": ["process", "--port", "0"],
    "sink": ["sink", "--port", "0", "--dsn", "chdb://{tmp}/store"],
}


@pytest.mark.parametrize("name", COMMANDS)
def test_an_unreachable_broker_is_one_line_and_exit_2(name: str, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"type":"tick","event_id":"t1","ts":"2026-03-02T00:00:00Z"}\n')
    args = [a.format(events=events, tmp=tmp_path) for a in COMMANDS[name]]
    if "--bootstrap" not in args:
        args += ["--bootstrap", f"127.0.0.1:{closed_port()}"]
    done = subprocess.run([sys.executable, "-m", "greekstream.cli", *args,
                           "--connect-timeout", "2"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "FAIL" not in done.stderr, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "cannot reach Kafka at 127.0.0.1:" in errors[0], done.stderr
    assert "--connect-timeout" in done.stderr  # the hint says what to do next
    noise = [line for line in done.stderr.splitlines()
             if line.strip() and not line.startswith("{")  # the processor's JSON log
             and "error:" not in line and "hint:" not in line]
    assert noise == [], noise
    assert not (tmp_path / "store").exists() or name == "sink"


def test_log_level_lets_librdkafka_speak() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "greekstream.cli", "topics", "create", "--bootstrap",
         f"127.0.0.1:{closed_port()}", "--connect-timeout", "2", "--log-level", "error"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "FAIL" in done.stderr  # librdkafka's own connection failures, when asked for
