"""`make test` runs the linters of `make lint`: mypy as pyproject.toml configures it (strict,
the packages it lists) and ruff over services, tests and bench. Each must pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, (
        f"`{' '.join(args)}` exited {done.returncode}:\n{done.stdout}{done.stderr}")


@pytest.mark.slow  # cold (no .mypy_cache) 8-12 s on 2 cores; with the cache under 1 s
def test_mypy_passes() -> None:
    _run("mypy")


def test_ruff_passes() -> None:
    _run("ruff", "check", "services", "tests", "bench")
