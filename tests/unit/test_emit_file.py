"""``--out FILE`` of the report commands (stress, var, cascade, explain: commands/_common.emit)
is written whole or not at all. A write that failed partway (a full disk) used to leave a
truncated file in place of the previous one. The failure is real: the file size limit of
the writing process (RLIMIT_FSIZE) makes the write fail with EFBIG partway."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from greekstream.commands._common import emit
from greekstream.errors import UsageError
try:
    emit(b"x" * 100_000, sys.argv[1])
except UsageError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
"""


def _emit(out: str, limit: int | None = None) -> subprocess.CompletedProcess[bytes]:
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.run([sys.executable, "-c", SCRIPT, out], capture_output=True,
                          preexec_fn=limited, timeout=60, check=False)


def test_a_write_that_fails_partway_leaves_the_previous_file_and_no_temporary(
        tmp_path: Path) -> None:
    out = tmp_path / "stress.json"
    out.write_bytes(b"the previous report\n")
    done = _emit(str(out), limit=4096)
    assert done.returncode == 2, done.stderr
    assert b"cannot write" in done.stderr and b"too large" in done.stderr.lower()
    assert out.read_bytes() == b"the previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stress.json"]


def test_a_write_that_succeeds_replaces_the_file_and_a_new_file_is_created(
        tmp_path: Path) -> None:
    out = tmp_path / "stress.json"
    out.write_bytes(b"the previous report\n")
    out.chmod(0o640)
    assert _emit(str(out)).returncode == 0
    assert out.read_bytes() == b"x" * 100_000
    assert out.stat().st_mode & 0o777 == 0o640  # the replaced file's permissions kept
    new = tmp_path / "new.json"
    assert _emit(str(new)).returncode == 0 and new.read_bytes() == b"x" * 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "stress.json"]


def test_a_device_or_pipe_is_written_in_place() -> None:
    """/dev/stdout is not renamed over (as root, a rename would replace the device link)."""
    done = _emit("/dev/stdout")
    assert done.returncode == 0 and done.stdout == b"x" * 100_000, done.stderr


def test_a_symlink_keeps_pointing_at_its_file_which_gets_the_report(tmp_path: Path) -> None:
    """The rename replaces the file the link names, not the link."""
    (tmp_path / "reports").mkdir()
    real = tmp_path / "reports" / "latest.json"
    real.write_bytes(b"the previous report\n")
    link = tmp_path / "stress.json"
    link.symlink_to(real)
    assert _emit(str(link)).returncode == 0
    assert link.is_symlink() and real.read_bytes() == b"x" * 100_000
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["latest.json"]
