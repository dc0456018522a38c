"""Output that cannot be written (`greekstream ... > FILE` on a full disk) is one error
line and exit status 2, not an OSError traceback (exit 1) or Python's "Exception ignored"
at exit (status 120)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from greekstream import cli


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("argv", [["topics", "list"], ["keygen", "KEY"]])
def test_stdout_on_a_full_disk_is_one_error_line(tmp_path: Path, argv: list[str]) -> None:
    exe = Path(sys.executable).with_name("greekstream")
    args = [str(tmp_path / "k") if a == "KEY" else a for a in argv]
    with open("/dev/full", "wb") as full:
        done = subprocess.run([str(exe), *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    first, hint = done.stderr.splitlines()
    assert first == f"greekstream {argv[0]}: error: No space left on device"
    assert hint.startswith("  hint: ")


def test_an_os_error_of_a_command_is_a_usage_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from greekstream.commands import keygen

    def run(_args: object) -> int:
        raise OSError(errno.EIO, "Input/output error", "/mnt/x")

    monkeypatch.setattr(keygen, "run", run)
    assert cli.main(["keygen", "k"]) == 2
    assert capsys.readouterr().err.startswith(
        "greekstream keygen: error: Input/output error: /mnt/x\n  hint: ")
