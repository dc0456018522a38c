"""Sharing ClickHouse between requests, and running replays off the request path.

* :class:`HistoryPool`: a fixed set of connections; a query takes one, so queries run side
  by side (over HTTP, one client each; embedded, chDB serves several clients of its one
  engine at once: see docs/history.md, "Concurrency", for the measured figures). Each
  runs its queries with the pool's ClickHouse settings (``max_execution_time``), so a
  slow query gives its connection back in bounded time.
* :class:`ReadyCheck`: /readyz's ``SELECT 1``, on a connection of its own and within a
  bound, so the probe never queues behind the pool's queries.
* :class:`Replays`: ``/v1/exposures?mode=replay`` re-derives exposures through the engine.
  That is CPU-bound Python, so it runs in worker *processes* (spawned: a fork of a process
  running chDB is not safe), never holding a connection while it computes. Each token may
  run ``per_token`` at once (429 beyond), and a request waits at most ``timeout_s`` (504);
  a replay that outlives its request still holds its token's slot until it ends.
  The records reach the worker as a spool file (history/spool.py), never as a list:
  :meth:`Replays.submit` passes its path and removes it when the worker is done with it.
  While it exists, the ``serve`` that made it holds a shared ``flock`` on it
  (:class:`SpoolFile`); at startup :meth:`Replays.sweep` removes the files nobody holds
  (left by a ``serve`` that was killed), not those of another ``serve`` still running.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import multiprocessing
import os
import queue
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from greekstream.errors import HistoryError
from greekstream.history.client import History, connect, wrap
from greekstream.history.spool import read_spool

log = logging.getLogger("greekstream.serve")
REPLAY_NICENESS = 10
SPOOL_PREFIX, SPOOL_SUFFIX = "greekstream-replay-", ".spool"
SWEEP_GRACE_S = 60.0  # an empty spool file this young may be in the mkstemp-flock window


def _lower_priority() -> None:
    """Replay workers yield the CPU to the queries: a long replay is batch work, a query
    is someone waiting (on 2 cores, 2 replays at the same priority made every query wait)."""
    with suppress(OSError):  # not permitted here: run at the same priority
        os.nice(REPLAY_NICENESS)


class PoolTimeout(Exception):
    """Every connection stayed in use for as long as the caller could wait."""


class HistoryPool:
    def __init__(self, first: History, size: int,
                 settings: dict[str, Any] | None = None) -> None:
        """``settings``: ClickHouse settings every connection's queries run with (a
        query's own, such as a replay read's ``max_execution_time``, win)."""
        self._idle: queue.Queue[History] = queue.Queue()
        self._opened = [connect(first.target.dsn) for _ in range(size - 1)]
        for history in (first, *self._opened):
            for name, value in (settings or {}).items():
                with wrap(f"cannot set ClickHouse setting {name}={value}"):
                    history.client.set_client_setting(name, value)
            self._idle.put(history)
        self.size = size

    @property
    def free(self) -> int:
        """Connections not in use now."""
        return self._idle.qsize()

    def get(self, timeout: float | None = None) -> History:
        """A connection, waiting for one to be free; at most ``timeout`` seconds
        (:class:`PoolTimeout`), or as long as it takes. Give it back with :meth:`put`."""
        try:
            return self._idle.get(timeout=timeout)
        except queue.Empty:
            raise PoolTimeout(f"no ClickHouse connection was free within {timeout:g} s "
                              f"(all {self.size} in use)") from None

    def put(self, history: History) -> None:
        self._idle.put(history)

    @contextmanager
    def take(self, timeout: float | None = None) -> Iterator[History]:
        """:meth:`get`, given back at the block's end."""
        history = self.get(timeout)
        try:
            yield history
        finally:
            self.put(history)

    def close(self) -> None:
        """Close the connections this pool opened (the first belongs to the caller)."""
        for history in self._opened:
            history.close()


class ReadyCheck:
    """/readyz's check that ClickHouse answers: ``SELECT 1`` on a connection of its own
    (opened by the first check, and again after one failed), so it never waits for the
    pool's connections; run in a thread of its own, so that the probe is answered within
    ``bound_s`` whatever ClickHouse does (a hung server holds that thread, not the probe).
    One check at a time: a probe that finds one still running waits for that one."""

    def __init__(self, open_history: Callable[[], History], bound_s: float) -> None:
        self._open = open_history
        self.bound_s = bound_s
        self._history: History | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="readyz")
        self._running: Future[None] | None = None
        self._lock = threading.Lock()

    def _select_one(self) -> None:
        if self._history is None:
            self._history = self._open()
        try:
            self._history.rows("SELECT 1")
        except HistoryError:
            self._history.close()
            self._history = None
            raise

    def _start(self) -> Future[None]:
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._executor.submit(self._select_one)
            return self._running

    async def check(self) -> str | None:
        """None when ClickHouse answered within ``bound_s``; else why not, in words.
        Awaited, so that no thread of the request pool waits for it (/readyz is an async
        route: it is answered when every request thread is busy)."""
        running = asyncio.wrap_future(self._start())
        # (a check that ends after the wait has its error read, not logged as never read)
        running.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:  # (shielded: a check that is late goes on, and the next probe waits for it)
            await asyncio.wait_for(asyncio.shield(running), self.bound_s)
        except TimeoutError:
            return f"ClickHouse did not answer SELECT 1 within {self.bound_s:g} s"
        except HistoryError as exc:
            log.error("readiness check failed: %s", exc)
            return "history store unavailable"
        return None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._history is not None:
            self._history.close()


def _on_spool(work: Callable[..., Any], path: str, *args: Any) -> Any:
    """In a replay worker: ``work(records, *args)``, the records read lazily from the
    spool file at ``path``."""
    return work(read_spool(path), *args)


class SpoolFile:
    """A replay's spool file and the descriptor through which this process holds a shared
    ``flock`` on it, from its creation until :meth:`remove` (unlink, then close: it is
    never seen unlocked under its name). A file nobody holds is stale (:meth:`Replays.sweep`)."""

    def __init__(self, path: Path, fd: int, on_remove: Callable[[], None] | None = None) -> None:
        self.path = path
        self._fd: int | None = fd
        self._lock = threading.Lock()  # the request thread and a future's callback race
        self._on_remove = on_remove  # gives its place among the live spools back

    def remove(self) -> None:
        """Remove the file and let its lock go; once only. A second call returns when the
        first has removed it, not before: the request thread must not answer (its caller
        then sees the file gone) while a future's callback is still unlinking it."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                self.path.unlink(missing_ok=True)
            finally:
                os.close(fd)
                if self._on_remove is not None:
                    self._on_remove()


class Busy(Exception):
    """This token already runs as many replays as it may."""


class SpoolsFull(Exception):
    """The service already holds as many spool files as it may (``max_spools``)."""


class Replays:
    def __init__(self, workers: int, per_token: int, timeout_s: float,
                 spool_max_bytes: int | None = None, max_spools: int | None = None) -> None:
        self.workers = workers
        self.per_token = per_token
        self.timeout_s = timeout_s
        self.spool_max_bytes = spool_max_bytes  # a replay's spool file, at most
        # spool files at once, whoever's (per token there is `per_token`, but tokens are
        # many): with spool_max_bytes, the most the spools take of the spool directory
        self.max_spools = max_spools
        self.spools = 0
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

    def spool_file(self) -> SpoolFile:
        """A new empty file (mode 0600) for a replay's spooled records, locked (shared)
        by this process until its :meth:`SpoolFile.remove`; :class:`SpoolsFull` when
        ``max_spools`` files exist already (reading, waiting for a worker, or read by
        one after their request's 504)."""
        with self._lock:
            if self.max_spools is not None and self.spools >= self.max_spools:
                raise SpoolsFull(self.spools)
            self.spools += 1
        try:
            fd, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX,
                                        dir=self.spool_dir)  # not inheritable (PEP 446)
        except BaseException:
            self._spool_removed()
            raise
        try:
            # Between mkstemp and this flock (microseconds) the file is visible unlocked;
            # nothing is written to it before the lock, and a sweep leaves an empty file
            # younger than SWEEP_GRACE_S alone, so it never takes one in that window.
            fcntl.flock(fd, fcntl.LOCK_SH)
        except BaseException:
            with suppress(OSError):
                os.unlink(name)
            os.close(fd)
            self._spool_removed()
            raise
        return SpoolFile(Path(name), fd, self._spool_removed)

    def _spool_removed(self) -> None:
        with self._lock:
            self.spools -= 1

    def sweep(self, grace_s: float = SWEEP_GRACE_S) -> int:
        """Remove the spool files in :attr:`spool_dir` no process holds a lock on: their
        ``serve`` ended without removing them (killed). A file another ``serve`` holds is
        kept, and so is an empty one younger than ``grace_s`` (it may be just made, not
        yet locked). Logs the count and size removed, if any; returns the count. Run at
        startup only."""
        where = Path(self.spool_dir if self.spool_dir is not None else tempfile.gettempdir())
        removed = size = 0
        now = time.time()
        for path in where.glob(f"{SPOOL_PREFIX}*{SPOOL_SUFFIX}"):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:  # gone meanwhile, a symlink, or not ours
                continue
            try:
                found = os.fstat(fd)
                if not stat.S_ISREG(found.st_mode) or (
                        found.st_size == 0 and now - found.st_mtime < grace_s):
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # a live serve holds it
                    continue
                # still that file under that name (not removed and made anew meanwhile)
                if os.stat(path, follow_symlinks=False).st_ino != found.st_ino:
                    continue
                path.unlink()
                removed += 1
                size += found.st_size
            except OSError:
                continue
            finally:
                os.close(fd)
        if removed:
            log.info("removed %d stale replay spool file(s), %d bytes (%.1f MiB), from %s: "
                     "left by a serve that ended without removing them", removed, size,
                     size / (1 << 20), where)
        return removed

    def submit(self, handed: list[Future[Any]], work: Callable[..., Any],
               spooled: SpoolFile, *args: Any) -> Future[Any]:
        """``work(records, *args)`` in a worker, the records read from the spool file
        ``spooled``. This process removes the file (and lets its lock go) when the future
        is done (a result, an error, cancelled, or the worker died), not before: it
        outlives a 504. After a worker died, on new workers (:meth:`_renew`)."""
        executor = self._pool()
        try:
            future = executor.submit(_on_spool, work, str(spooled.path), *args)
        except BrokenProcessPool:  # a worker died: new workers take this replay
            self._renew(executor)
            future = self._pool().submit(_on_spool, work, str(spooled.path), *args)
        future.add_done_callback(lambda _f: spooled.remove())
        handed.append(future)
        return future

    def _renew(self, broken: ProcessPoolExecutor) -> None:
        """Let the next :meth:`_pool` start new workers instead of ``broken``: once one of
        its workers died (the OOM killer, a signal) an executor refuses all work for good,
        and every replay after it failed until serve was restarted (/readyz still ready).
        Only ``broken`` is replaced: a request that saw it late keeps a newer one."""
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def running(self, who: str) -> int:
        with self._lock:
            return self._running.get(who, 0)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
