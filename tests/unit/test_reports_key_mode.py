"""The signing key is refused when any user may read or write it: whoever reads it signs
reports as the desk. `report` took a key left world-readable (a copy with the default
umask, a secret mounted 0644) without a word. Its group may read it: a Kubernetes Secret
reaches a non-root container as 0440 with the pod's fsGroup."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.errors import UsageError
from greekstream.reports.signing import keygen, load_private
from tests.cli import run


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o602, 0o666])
def test_a_key_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    private, _ = keygen(tmp_path / "k")
    assert load_private(private)  # as keygen writes it (0600)
    private.chmod(mode)
    with pytest.raises(UsageError, match=f"mode {mode:04o}") as caught:
        load_private(private)
    assert caught.value.hint == f"chmod 600 {private} (keygen writes it so)"


def test_report_says_what_to_do(tmp_path: Path) -> None:
    private, _ = keygen(tmp_path / "k")
    private.chmod(0o644)
    code, _, err = run("report", "chdb://" + str(tmp_path / "none"), "--date", "2026-03-02",
                       "--key", str(private), "--out", str(tmp_path / "r.json"))
    assert code == 2, err
    assert "is open to every user" in err and "chmod 600" in err, err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o440, 0o640])
def test_a_key_of_its_owner_and_group_is_taken(tmp_path: Path, mode: int) -> None:
    private, _ = keygen(tmp_path / "k")
    private.chmod(mode)
    assert load_private(private)
