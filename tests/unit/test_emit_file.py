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
    assert _emit(str(out)).returncode == 0
    assert out.read_bytes() == b"x" * 100_000
    new = tmp_path / "new.json"
    assert _emit(str(new)).returncode == 0 and new.read_bytes() == b"x" * 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "stress.json"]


def test_a_device_or_pipe_is_written_in_place() -> None:
    """/dev/stdout is not renamed over (as root, a rename would replace the device link)."""
    done = _emit("/dev/stdout")
    assert done.returncode == 0 and done.stdout == b"x" * 100_000, done.stderr
