"""`greekstream keygen PATH`: the key pair, and one line with a hint when PATH cannot be
written."""

from __future__ import annotations

from pathlib import Path

from greekstream.reports.signing import load_private, load_public
from tests.cli import run


def test_writes_a_key_pair(tmp_path: Path) -> None:
    code, _, err = run("keygen", str(tmp_path / "key"))
    assert code == 0, err
    assert load_private(tmp_path / "key") and load_public(tmp_path / "key.pub")
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600


def test_a_missing_directory_is_a_usage_error_with_a_hint(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    code, _, err = run("keygen", str(missing / "key"))
    assert code == 2
    assert err.splitlines() == [
        f"greekstream keygen: error: cannot write key {missing / 'key'}: "
        "No such file or directory",
        f"  hint: create the directory first (mkdir -p {missing}) or choose another PATH"]
    assert not missing.exists()


def test_a_directory_as_path_says_so(tmp_path: Path) -> None:
    code, _, err = run("keygen", str(tmp_path), "--force")
    assert code == 2
    assert "is a directory: give PATH a file name in it" in err


def test_a_file_name_too_long_is_a_usage_error_and_writes_nothing(tmp_path: Path) -> None:
    """A 300-character name (or one whose .pub is past the limit) was OSError
    ENAMETOOLONG with a traceback; now a UsageError with a hint, and neither file."""
    for name in ("k" * 300, "k" * 253):
        code, _, err = run("keygen", str(tmp_path / name))
        assert code == 2, err
        assert "File name too long" in err and "hint: choose a shorter PATH" in err, err
    assert list(tmp_path.iterdir()) == []
