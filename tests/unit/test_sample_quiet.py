"""`greekstream sample --quiet`: no progress on stderr, for every profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run

pytestmark = pytest.mark.timeout(60)


def test_quiet_loans_print_no_progress_line(tmp_path: Path) -> None:
    """`--profile loans --quiet` printed the progress line ("loans: 100,002/100,002 events
    100.0% ...") of a population of 100,000 loans or more: write_loans always showed it."""
    out = tmp_path / "loans.jsonl"
    code, _, err = run("sample", "--quiet", "--profile", "loans", "--count", "100000",
                       "--out", str(out))
    assert code == 0, err
    assert err == f"wrote 100,002 events to {out}\n"
