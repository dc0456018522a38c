"""Every file the commands write is written whole or not at all (runtime/whole_file).

The signed report (`greekstream report --out`), the PNG figures, the returns files and
the sample files were written in place: a write that failed partway (a full disk, Ctrl-C)
left a truncated file where the previous one had been. The report commands' ``--out``
(commands/_common.emit) and ``greekstream sample`` had their own temporary-and-rename
copies; they now share one. The full disk is real here: the file size limit of the
writing process (RLIMIT_FSIZE) makes a write fail with EFBIG partway."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from greekstream.reports.signing import keygen
from greekstream.runtime.whole_file import replacing, write_whole

PREVIOUS = b"the previous file\n"

# Each writer, run in a child with a 4 KiB file size limit; argv[1] is the target, argv[2]
# a scratch directory. Each writes far more than 4 KiB.
WRITERS = {
    "report --out": """
import argparse, contextlib, sys
import greekstream.commands.report as report
key = sys.argv[2] + "/key"  # made by the test
report.connect = lambda dsn: contextlib.nullcontext(None)
report.build_report = lambda history, day: {"date": day, "books": {"b": {"x": "y" * 50_000}}}
report.run(argparse.Namespace(dsn="chdb:///unused", date="2026-03-01", key=str(key),
                              out=sys.argv[1]))
""",
    "a PNG figure": """
import sys
import matplotlib.pyplot as plt
import numpy as np
from greekstream.reports.plots import save_png
fig, ax = plt.subplots(figsize=(12, 8))
ax.imshow(np.random.default_rng(1).random((400, 400)))
save_png(fig, sys.argv[1])
""",
    "a returns file": """
import sys
from datetime import date, timedelta
import numpy as np
from greekstream.core.var import Returns
from greekstream.runtime.returns_file import write_returns
n = 2_000
days = [(date(2020, 1, 1) + timedelta(days=j)).isoformat() for j in range(n)]
returns = Returns(dates=tuple(days), log_returns={"BTC": np.full(n, 0.0123456789)})
write_returns(sys.argv[1], returns)
""",
    "the sample returns": """
import sys
from pathlib import Path
from greekstream.sample.returns import write_sample_returns
write_sample_returns(Path(sys.argv[1]))
""",
    "the sample history": """
import sys
from greekstream.sample.history import write_history
write_history(sys.argv[1])
""",
    "a report command's --out": """
import sys
from greekstream.commands._common import emit
emit(b"x" * 100_000, sys.argv[1])
""",
}


def _run(script: str, target: Path, scratch: Path,
         limit: int | None) -> subprocess.CompletedProcess[bytes]:
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.run([sys.executable, "-c", script, str(target), str(scratch)],
                          capture_output=True, preexec_fn=limited, timeout=120, check=False)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_write_that_fails_partway_leaves_the_previous_file_and_no_temporary(
        writer: str, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    keygen(scratch / "key")  # for the report
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "file.out"
    target.write_bytes(PREVIOUS)
    script = WRITERS[writer]
    done = _run(script, target, scratch, limit=4096)
    assert done.returncode != 0, f"{writer} wrote more than 4 KiB under a 4 KiB limit?"
    assert target.read_bytes() == PREVIOUS, f"{writer} left a truncated file"
    assert sorted(p.name for p in out_dir.iterdir()) == ["file.out"], "a temporary is left"
    # and without the limit it replaces the file
    done = _run(script, target, scratch, limit=None)
    assert done.returncode == 0, done.stderr.decode()
    assert target.stat().st_size > 4096
    assert sorted(p.name for p in out_dir.iterdir()) == ["file.out"]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, OSError, ValueError])
def test_an_interrupted_write_leaves_the_previous_file_and_no_temporary(
        interrupt: type[BaseException], tmp_path: Path) -> None:
    """Ctrl-C (KeyboardInterrupt) or an error building the content mid-write."""
    target = tmp_path / "report.json"
    target.write_bytes(PREVIOUS)
    with pytest.raises(interrupt), replacing(target) as out:
        out.write(b"half of the new report")
        raise interrupt()
    assert target.read_bytes() == PREVIOUS
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_gets_the_umasks(
        tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_bytes(PREVIOUS)
    old.chmod(0o640)
    write_whole(old, b"new")
    assert old.read_bytes() == b"new" and old.stat().st_mode & 0o777 == 0o640
    before = os.umask(0o027)
    try:
        write_whole(tmp_path / "new.json", b"new")
    finally:
        os.umask(before)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640  # 0o666 & ~0o027


def test_a_symlink_keeps_pointing_at_its_file_which_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    real = tmp_path / "reports" / "latest.json"
    real.write_bytes(PREVIOUS)
    link = tmp_path / "report.json"
    link.symlink_to(real)
    write_whole(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["latest.json"]


def test_a_pipe_is_written_in_place(tmp_path: Path) -> None:
    """A FIFO (like /dev/stdout on a pipe) is not renamed over: the reader gets the bytes."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    write_whole(fifo, b"through the pipe")
    assert reader.communicate(timeout=30)[0] == b"through the pipe"
    assert fifo.is_fifo()


def test_a_directory_in_the_way_is_an_oserror_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError):
        write_whole(tmp_path / "out", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
