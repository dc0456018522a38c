"""The files only their owner may read (`keygen`'s private key, `serve --new-token`'s token
files) are written one way: mode 0600 even over a file that was there, and the same words
with a hint when their directory is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greekstream.commands.serve import new_token
from greekstream.errors import UsageError
from greekstream.runtime.private_file import write_private
from tests.cli import run


def test_a_file_that_was_readable_by_others_is_private_once_replaced(tmp_path: Path) -> None:
    """``os.open``'s mode applies to a new file only: an existing 0644 file kept 0644."""
    key = tmp_path / "key"
    key.write_text("old")
    key.chmod(0o644)
    code, _, err = run("keygen", str(key), "--force")
    assert code == 0, err
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")

    tokens = tmp_path / "token"
    for p in (tokens, tmp_path / "token.txt"):
        p.write_text("a much longer old content than the token, which must not stay behind")
        p.chmod(0o644)
    token = new_token(str(tokens))
    assert json.loads(tokens.read_text()) == {token: "*"}
    assert (tmp_path / "token.txt").read_text() == token + "\n"
    for p in (tokens, tmp_path / "token.txt"):
        assert p.stat().st_mode & 0o777 == 0o600, p


def test_a_missing_directory_is_named_with_the_same_hint_by_both_commands(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no" / "such"
    code, _, err = run("serve", "--new-token", str(missing / "token"))
    assert code == 2
    assert err.splitlines() == [
        f"greekstream serve: error: cannot write the token file {missing / 'token'}: "
        "No such file or directory",
        f"  hint: create the directory first (mkdir -p {missing}) or choose another "
        "--new-token FILE"]
    code, _, err = run("keygen", str(missing / "key"))
    assert code == 2
    assert err.splitlines()[1] == (
        f"  hint: create the directory first (mkdir -p {missing}) or choose another PATH")
    assert not missing.exists()


def test_a_directory_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "token").mkdir()
    with pytest.raises(UsageError) as caught:
        write_private(tmp_path / "token", b"x", what="the token file",
                      given_by="--new-token FILE")
    assert str(caught.value) == (
        f"cannot write the token file {tmp_path / 'token'}: Is a directory\n"
        f"  hint: {tmp_path / 'token'} is a directory: give --new-token FILE a file name in it")


def test_a_pair_that_cannot_be_written_leaves_neither_file(tmp_path: Path) -> None:
    """keygen writes PATH and PATH.pub, `serve --new-token FILE` writes FILE and FILE.txt:
    when the second cannot be written, the first is not written either (it used to be
    left behind: a private key without its public one, a token file without its text)."""
    (tmp_path / "key.pub").mkdir()
    code, _, err = run("keygen", str(tmp_path / "key"), "--force")  # (it exists otherwise)
    assert code == 2
    assert err.splitlines()[0] == (f"greekstream keygen: error: cannot write key "
                                   f"{tmp_path / 'key.pub'}: Is a directory")
    assert not (tmp_path / "key").exists()

    (tmp_path / "token.txt").mkdir()
    code, _, err = run("serve", "--new-token", str(tmp_path / "token"))
    assert code == 2
    assert err.splitlines()[1] == (f"  hint: {tmp_path / 'token.txt'} is a directory: give "
                                   "--new-token FILE a file name in it")
    assert not (tmp_path / "token").exists()
