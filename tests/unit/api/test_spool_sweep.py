"""A replay's spool file is held (a shared ``flock``) by the ``serve`` that made it, from
its creation until it removes it (api/pool.py ``SpoolFile``), and ``serve`` removes at
startup the files nobody holds (``Replays.sweep``): those a killed ``serve`` left, which
nothing removed and which filled the pod's /tmp after a few kills, but never the file of
another ``serve`` sharing the directory whose worker still reads it."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException

from greekstream.api.app import Service, _in_replay_slot
from greekstream.api.pool import SWEEP_GRACE_S, Replays
from greekstream.api.tokens import Tokens
from greekstream.settings import EngineSettings, QuerySettings
from tests.unit.api.test_replay_spool import (
    WHO,
    FakeService,
    InlineExecutor,
    a_504_while_the_worker_runs,
    tally,
)

OLD = time.time() - 2 * SWEEP_GRACE_S


def replays_in(directory: Path) -> Replays:
    replays = Replays(1, 1, 60)
    replays.spool_dir = directory
    return replays


def stale(directory: Path, name: str, data: bytes = b"", mtime: float | None = OLD) -> Path:
    """A spool file nobody holds (its serve is gone), last written at ``mtime``."""
    path = directory / f"greekstream-replay-{name}.spool"
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def held(path: Path) -> bool:
    """Someone holds a lock on ``path``: a new open file description of it cannot take
    an exclusive one (flock locks belong to open file descriptions, so this conflicts
    with one this same process holds through another descriptor)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


HOLDER = """
import sys
from pathlib import Path
from greekstream.api.pool import Replays
replays = Replays(1, 1, 60)
replays.spool_dir = Path(sys.argv[1])
spooled = replays.spool_file()
spooled.path.write_bytes(b"r" * 1000)
print(spooled.path, flush=True)
sys.stdin.read()  # as a serve whose worker still reads it, until killed
"""


def test_the_file_of_a_live_serve_is_kept_and_removed_once_it_is_killed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Another serve (a process) makes a spool file through ``spool_file``: a sweep keeps
    it while that serve lives, even once it is old, and removes it after a SIGKILL."""
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None
            path = Path(holder.stdout.readline().strip())
            assert path.parent == tmp_path and held(path)
            os.utime(path, (OLD, OLD))
            with caplog.at_level(logging.INFO, "greekstream.serve"):
                assert replays_in(tmp_path).sweep() == 0
            assert path.exists() and caplog.records == []
        finally:
            holder.kill()  # SIGKILL: the process cannot remove its file
            holder.wait(10)
    assert path.exists() and not held(path)  # left behind, and nobody holds it now
    with caplog.at_level(logging.INFO, "greekstream.serve"):
        assert replays_in(tmp_path).sweep() == 1
    assert not path.exists()
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("removed 1 stale replay spool file(s), 1000 bytes (0.0 MiB), ")


def test_a_sweep_removes_what_nobody_holds_and_keeps_the_rest(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gone = [stale(tmp_path, "old", b"x" * 300),
            stale(tmp_path, "old-empty"),
            # written and unlocked: its serve is gone, however recently (a container
            # restarted at once after an OOM kill sweeps the spools that kill left)
            stale(tmp_path, "young-written", b"y" * 200, mtime=None)]
    # just made by mkstemp, not yet locked: in the window before its serve's flock
    young_empty = stale(tmp_path, "young-empty", mtime=None)
    other = tmp_path / "greekstream-replay-x.txt"  # not a spool file's name
    other.write_bytes(b"z")
    os.utime(other, (OLD, OLD))
    # held by another open file description of this process (as a serve's SpoolFile)
    mine = stale(tmp_path, "held-here", b"h" * 100)
    holder = os.open(mine, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_SH)
        assert held(mine)  # the second open file description conflicts, same process
        with caplog.at_level(logging.INFO, "greekstream.serve"):
            assert replays_in(tmp_path).sweep() == 3
        assert not any(p.exists() for p in gone)
        assert young_empty.exists() and other.exists() and mine.exists()
        (line,) = [r.getMessage() for r in caplog.records]
        assert line.startswith("removed 3 stale replay spool file(s), 500 bytes (0.0 MiB), "
                               f"from {tmp_path}: ")
        caplog.clear()
        with caplog.at_level(logging.INFO, "greekstream.serve"):
            assert replays_in(tmp_path).sweep() == 0
        assert caplog.records == []  # nothing removed: nothing logged
    finally:
        os.close(holder)
    assert replays_in(tmp_path).sweep() == 1 and not mine.exists()  # released: stale


def test_the_file_is_held_while_its_request_runs_then_gone_with_its_descriptor(
        tmp_path: Path) -> None:
    """Through every way a request ends (answer, worker error, 507, refused read) the
    file is locked while it exists and no descriptor is left open after, over many."""
    seen: list[bool] = []

    def checked(records: Any, label: str, config: Any = None) -> tuple[str, int, int]:
        (path,) = tmp_path.iterdir()
        os.utime(path, (OLD, OLD))
        seen.append(held(path))
        assert replays_in(tmp_path).sweep() == 0 and path.exists()  # another serve's sweep
        return tally(records, label, config)

    def broken(records: Any, config: Any = None) -> None:
        checked(records, "x", config)
        raise ValueError("a bug in the worker")

    def refused(h: object, s: float) -> Any:
        raise HTTPException(400, "no input events stored")

    def records(h: object, s: float) -> Any:
        return iter([(b"r" * 100, "s:1")] * 3)

    service = FakeService(tmp_path, InlineExecutor(), spool_max_bytes=200)
    small = FakeService(tmp_path, InlineExecutor(), spool_max_bytes=1 << 20)
    _in_replay_slot(small, WHO, records, checked, "x", hint="h")  # type: ignore[arg-type]
    before = open_fds()
    for _ in range(50):
        assert _in_replay_slot(small, WHO, records, checked,  # type: ignore[arg-type]
                               "x", hint="h") == ("x", 3, 300)
        with pytest.raises(ValueError):
            _in_replay_slot(small, WHO, records, broken, hint="h")  # type: ignore[arg-type]
        with pytest.raises(HTTPException) as over:
            _in_replay_slot(service, WHO, records, tally, "x", hint="h")  # type: ignore[arg-type]
        assert over.value.status_code == 507
        with pytest.raises(HTTPException):
            _in_replay_slot(small, WHO, refused, tally, "x", hint="h")  # type: ignore[arg-type]
        assert list(tmp_path.iterdir()) == []
    assert seen == [True] * 101
    assert open_fds() == before


def test_after_a_504_a_sweep_keeps_the_file_the_worker_still_reads(tmp_path: Path) -> None:
    before = open_fds()
    _service, executor = a_504_while_the_worker_runs(tmp_path)
    (spooled,) = tmp_path.iterdir()
    os.utime(spooled, (OLD, OLD))  # a long replay: its file is old
    assert held(spooled)
    assert replays_in(tmp_path).sweep() == 0 and spooled.exists()
    executor.futures[0].set_result(None)  # the worker ends
    assert not spooled.exists() and open_fds() == before


def test_serve_sweeps_its_spool_directory_at_startup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Service`` (built by create_app when ``serve`` starts) sweeps TMPDIR."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    left = stale(tmp_path, "killed", b"k" * 10)
    history = SimpleNamespace(client=SimpleNamespace(set_client_setting=lambda *_: None))
    service = Service(history, Tokens({}), QuerySettings(connections=1),  # type: ignore[arg-type]
                      EngineSettings())
    try:
        assert not left.exists()
    finally:
        service.close()


def test_a_second_remove_returns_only_once_the_file_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's future removes the file from its callback while the request thread,
    seeing the future done, removes it too and then answers. The request thread's call
    must not return while the callback is still unlinking: the client would find the file
    there after its answer (CI failed on that race)."""
    spooled = replays_in(tmp_path).spool_file()
    entered, release = threading.Event(), threading.Event()
    unlink = Path.unlink

    def slow_unlink(self: Path, missing_ok: bool = False) -> None:
        entered.set()
        assert release.wait(10)
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", slow_unlink)
    callback = threading.Thread(target=spooled.remove)
    callback.start()
    assert entered.wait(10)
    second: list[bool] = []
    request = threading.Thread(target=lambda: (spooled.remove(), second.append(True)))
    request.start()
    request.join(0.5)
    try:
        assert not second, "a second remove returned while the file was still there"
    finally:
        release.set()
        callback.join(10)
        request.join(10)
    assert second == [True]
    assert not spooled.path.exists()
