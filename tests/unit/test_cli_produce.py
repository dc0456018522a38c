"""`greekstream produce FILE`: what is wrong with FILE, in words."""

from __future__ import annotations

from pathlib import Path

from tests.cli import run


def test_produce_names_a_directory_as_one(tmp_path: Path) -> None:
    # it said "no such events file: DIR" of a directory that is there
    code, _, err = run("produce", str(tmp_path), "--bootstrap", "127.0.0.1:1")
    assert code == 2
    assert err.startswith(f"greekstream produce: error: {tmp_path} is a directory, not an "
                          "events file\n"), err
