"""A ClickHouse server that cannot be connected to: one plain error line naming
host:port and why, with a hint, and no log line of clickhouse-connect before it."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.cli import run

pytestmark = pytest.mark.timeout(60)

AS_OF = "2026-03-02T12:00:00Z"


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_connection_is_said_plainly(closed_port: int) -> None:
    code, out, err = run("exposure", f"http://default:x@127.0.0.1:{closed_port}/greekstream",
                         "--as-of", AS_OF)
    assert (code, out) == (2, "")
    # the last lines: a log handler another test left on the root logger may print first
    assert err.splitlines()[-2:] == [
        f"greekstream exposure: error: cannot connect to ClickHouse at 127.0.0.1:{closed_port}: "
        "connection refused (nothing is listening there)",
        f"  hint: is a ClickHouse server listening on 127.0.0.1:{closed_port}? start it, or "
        "fix the host and port in the DSN"]


def test_no_library_log_line_before_the_error(closed_port: int) -> None:
    """Run as a terminal user would (pytest's own log capture would hide the line)."""
    done = subprocess.run(
        [sys.executable, "-m", "greekstream.cli", "exposure",
         f"http://default:x@127.0.0.1:{closed_port}/greekstream", "--as-of", AS_OF],
        capture_output=True, text=True, timeout=50, check=False)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("greekstream exposure: error: cannot connect")
