"""Sharing ClickHouse between requests, and running replays off the request path.

* :class:`HistoryPool`: a fixed set of connections; a query takes one, so queries run side
  by side (over HTTP, one client each; embedded, chDB serves several clients of its one
  engine at once: see docs/history.md, "Concurrency", for the measured figures).
* :class:`Replays`: ``/v1/exposures?mode=replay`` re-derives exposures through the engine.
  That is CPU-bound Python, so it runs in worker *processes* (spawned: a fork of a process
  running chDB is not safe), never holding a connection while it computes. Each token may
  run ``per_token`` at once (429 beyond), and a request waits at most ``timeout_s`` (504);
  a replay that outlives its request still holds its token's slot until it ends.
  The records reach the worker as a spool file (history/spool.py), never as a list:
  :meth:`Replays.submit` passes its path and removes it when the worker is done with it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from greekstream.history.client import History, connect
from greekstream.history.spool import read_spool

REPLAY_NICENESS = 10


def _lower_priority() -> None:
    """Replay workers yield the CPU to the queries: a long replay is batch work, a query
    is someone waiting (on 2 cores, 2 replays at the same priority made every query wait)."""
    with suppress(OSError):  # not permitted here: run at the same priority
        os.nice(REPLAY_NICENESS)


class HistoryPool:
    def __init__(self, first: History, size: int) -> None:
        self._idle: queue.Queue[History] = queue.Queue()
        self._idle.put(first)
        self._opened = [connect(first.target.dsn) for _ in range(size - 1)]
        for history in self._opened:
            self._idle.put(history)
        self.size = size

    @contextmanager
    def take(self) -> Iterator[History]:
        history = self._idle.get()
        try:
            yield history
        finally:
            self._idle.put(history)

    def close(self) -> None:
        """Close the connections this pool opened (the first belongs to the caller)."""
        for history in self._opened:
            history.close()


def _on_spool(work: Callable[..., Any], path: str, *args: Any) -> Any:
    """In a replay worker: ``work(records, *args)``, the records read lazily from the
    spool file at ``path``."""
    return work(read_spool(path), *args)


class Busy(Exception):
    """This token already runs as many replays as it may."""


class Replays:
    def __init__(self, workers: int, per_token: int, timeout_s: float,
                 spool_max_bytes: int | None = None) -> None:
        self.workers = workers
        self.per_token = per_token
        self.timeout_s = timeout_s
        self.spool_max_bytes = spool_max_bytes  # a replay's spool file, at most
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self.spool_dir: Path | None = None  # None: the temporary directory (TMPDIR)

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_lower_priority)
            return self._executor

    @contextmanager
    def slot(self, who: str) -> Iterator[Any]:
        """Hold one of ``who``'s replay slots; :meth:`submit` inside passes it to the
        worker's future, so it is freed when the replay ends, not when the request does."""
        with self._lock:
            if self._running.get(who, 0) >= self.per_token:
                raise Busy(who)
            self._running[who] = self._running.get(who, 0) + 1
        handed: list[Future[Any]] = []
        try:
            yield handed
        finally:
            if handed:
                handed[0].add_done_callback(lambda _f: self._release(who))
            else:
                self._release(who)

    def _release(self, who: str) -> None:
        with self._lock:
            self._running[who] -= 1
            if not self._running[who]:
                del self._running[who]

    def spool_path(self) -> Path:
        """A new empty file (mode 0600) for a replay's spooled records."""
        fd, name = tempfile.mkstemp(prefix="greekstream-replay-", suffix=".spool",
                                    dir=self.spool_dir)
        os.close(fd)
        return Path(name)

    def submit(self, handed: list[Future[Any]], work: Callable[..., Any], spooled: Path,
               *args: Any) -> Future[Any]:
        """``work(records, *args)`` in a worker, the records read from the spool file
        ``spooled``. This process removes the file when the future is done (a result,
        an error, cancelled, or the worker died), not before: it outlives a 504."""
        future = self._pool().submit(_on_spool, work, str(spooled), *args)
        future.add_done_callback(lambda _f: spooled.unlink(missing_ok=True))
        handed.append(future)
        return future

    def running(self, who: str) -> int:
        with self._lock:
            return self._running.get(who, 0)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
