"""A command started with stderr closed (`2>&-`, a daemon's or cron's closed descriptor)
still does its work: Python's sys.stderr is then None, and the first progress or summary
line failed (AttributeError, exit 1, nothing written and nothing said)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_sample_with_stderr_closed_writes_its_file(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("greekstream")
    out = tmp_path / "events.jsonl"
    done = subprocess.run(
        ["bash", "-c", f'"{exe}" sample --profile loans --count 3 --out "{out}" 2>&-'],
        stdout=subprocess.PIPE, text=True, timeout=120, check=False, env=dict(os.environ))
    assert done.returncode == 0
    assert done.stdout == ""
    assert out.stat().st_size > 0
