"""`greekstream sample --out -` writes the sample to stdout (a pipe into `produce -`), the
same bytes as a file; it wrote a file named "-" in the working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(("profile", "what"), [("small", "events"), ("returns", "days")])
def test_out_dash_is_stdout(tmp_path: Path, profile: str, what: str) -> None:
    base = [sys.executable, "-m", "greekstream.cli", "sample", "--profile", profile, "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    piped = subprocess.run([*base, "--out", "-"], cwd=tmp_path, capture_output=True,
                           env=env, timeout=120, check=False)
    assert piped.returncode == 0, piped.stderr
    assert not (tmp_path / "-").exists()
    subprocess.run([*base, "--out", "file"], cwd=tmp_path, env=env, timeout=120, check=True,
                   capture_output=True)
    assert piped.stdout == (tmp_path / "file").read_bytes() and piped.stdout
    assert piped.stderr.decode().strip().endswith("to stdout"), piped.stderr
    assert f"wrote {len(piped.stdout.splitlines()) - (profile == 'returns'):,} {what}" \
        in piped.stderr.decode()
