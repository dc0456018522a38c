"""A command started with standard output closed (`greekstream stress EVENTS >&-`): one
error line saying so, exit 2. sys.stdout is None then, and the first print came out as
an AttributeError traceback ('NoneType' object has no attribute 'buffer'), exit 1. With
--out FILE the command does not need stdout and runs; --help still prints (on stderr)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "tests" / "golden" / "cases" / "inverse_put.jsonl"


def _closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from greekstream.cli import main; "
         "sys.exit(main())", *args],
        stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(1), timeout=120,
        check=False, cwd=REPO)


@pytest.mark.parametrize("args", [["stress", str(EVENTS)], ["replay", str(EVENTS), "--quiet"],
                                  ["stress", str(EVENTS), "--format", "table"]])
def test_a_command_with_stdout_closed_says_so_and_exits_2(args: list[str]) -> None:
    done = _closed_stdout(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"greekstream {args[0]}: error: standard output is closed")
    assert "hint: " in done.stderr


def test_out_file_and_help_need_no_stdout(tmp_path: Path) -> None:
    out = tmp_path / "stress.json"
    done = _closed_stdout("stress", str(EVENTS), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"[")
    done = _closed_stdout("stress", "--help")
    assert done.returncode == 0 and "usage: greekstream stress" in done.stderr
