"""`greekstream sample --out DIR/FILE`: every profile makes a missing DIR, and a DIR that
is a file is named as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.sample.__main__ import main
from tests.cli import run


@pytest.mark.parametrize("profile", ["small", "returns", "loans"])
def test_every_profile_makes_the_missing_folder_of_out(tmp_path: Path, profile: str) -> None:
    """The event profiles made it; --profile returns (and `python -m greekstream.sample
    history`) failed with "cannot write ...: No such file or directory"."""
    out = tmp_path / "data" / "new" / "sample.out"
    code, _, err = run("sample", "--quiet", "--profile", profile, "--count" if profile ==
                       "loans" else "--seed", "3", "--out", str(out))
    assert code == 0, err
    assert out.stat().st_size > 0


def test_python_m_history_makes_the_missing_folder_of_out(tmp_path: Path) -> None:
    out = tmp_path / "data" / "history.jsonl"
    assert main(["history", "--days", "3", "--out", str(out)]) == 0
    assert len(out.read_bytes().splitlines()) == 21


@pytest.mark.parametrize("profile", ["small", "returns"])
def test_a_folder_that_is_a_file_says_so(tmp_path: Path, profile: str) -> None:
    """The event profiles said "cannot write a/x.jsonl: File exists" (mkdir's error)."""
    (tmp_path / "a").write_bytes(b"")
    code, _, err = run("sample", "--quiet", "--profile", profile, "--out",
                       str(tmp_path / "a" / "x.out"))
    assert code == 2
    assert "Not a directory" in err and "hint: " in err, err
