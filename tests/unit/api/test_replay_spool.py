"""A replay's records reach the worker through a spool file (api/app.py
``_in_replay_slot``, api/pool.py ``Replays.submit``): the request path never holds them
all (it held a list of the book's whole history, and pickled it to the worker), the
worker is given a path and streams it, and the file is gone when the request ends, or,
after a 504, when the worker is done with it (never while it may still read it)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException

from greekstream.api.app import _in_replay_slot, configured
from greekstream.api.pool import HistoryPool, Replays, _on_spool
from greekstream.core.engine import EngineConfig
from greekstream.errors import HistoryError
from greekstream.settings import EngineSettings

RECORD_BYTES = 4 << 20
RECORDS = 32  # 128 MiB in all: a list of them is far over the peak allowed below


class InlineExecutor:
    """Runs each call in this process when submitted (``run=False``: leaves it pending,
    a worker still busy), and keeps what it was given."""

    def __init__(self, run: bool = True) -> None:
        self.run = run
        self.calls: list[tuple[Any, ...]] = []
        self.futures: list[Future[Any]] = []

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        self.calls.append((fn, *args))
        future: Future[Any] = Future()
        if self.run:
            try:
                future.set_result(fn(*args))
            except Exception as exc:  # as a worker's error reaches its future
                future.set_exception(exc)
        self.futures.append(future)
        return future


class FakeService:
    def __init__(self, spool_dir: Path, executor: InlineExecutor, timeout_s: float = 60,
                 spool_max_bytes: int | None = None, max_spools: int | None = None,
                 pool: HistoryPool | None = None) -> None:
        self.replays = Replays(1, 1, timeout_s, spool_max_bytes, max_spools)
        self.replays.spool_dir = spool_dir
        self.replays._pool = lambda: executor  # type: ignore[method-assign]
        self.connections = 0  # taken and not given back
        self.pool = pool  # a real pool of fake connections, or one that is never busy
        self.engine = EngineSettings(max_ts_ahead_s=60).model_dump_json()  # the processors'

    @contextmanager
    def db(self, timeout: float | None = None) -> Iterator[object]:
        if self.pool is not None:
            with self.pool.take(timeout) as history:
                yield history
            return
        self.connections += 1
        try:
            yield object()
        finally:
            self.connections -= 1


WHO = SimpleNamespace(name="desk")


def big_records(closed: list[bool] | None = None) -> Iterator[tuple[bytes, str]]:
    """Each record made as it is asked for: only a reader that keeps them holds them all."""
    try:
        for i in range(RECORDS):
            yield bytes([i % 251]) * RECORD_BYTES, f"inputs:{i}"
    finally:
        if closed is not None:
            closed.append(True)


def tally(records: Any, label: str, config: EngineConfig | None = None,
          ) -> tuple[str, int, int]:
    """The worker's work: it is handed the engine configuration of the service's settings."""
    assert config is not None and config.max_ts_ahead_s == 60
    count = total = 0
    for raw, _source in records:
        count += 1
        total += len(raw)
    return label, count, total


def test_the_records_are_streamed_to_the_worker_through_a_file(tmp_path: Path) -> None:
    executor = InlineExecutor()
    service = FakeService(tmp_path, executor)
    tracemalloc.start()
    try:
        got = _in_replay_slot(service, WHO, lambda h, seconds: big_records(),  # type: ignore[arg-type]
                              tally, "mine", hint="h")
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == ("mine", RECORDS, RECORDS * RECORD_BYTES)
    assert peak < 8 * RECORD_BYTES, f"peak {peak >> 20} MiB: the records were held"
    (call,) = executor.calls  # the worker is given a path, never the records
    # the worker runs configured(records, tally, the service's engine settings, "mine")
    assert call[:2] == (_on_spool, configured) and call[3:] == (tally, service.engine, "mine")
    assert isinstance(call[2], str) and Path(call[2]).parent == tmp_path
    assert list(tmp_path.iterdir()) == []  # removed when the request ends
    assert service.connections == 0 and service.replays.running("desk") == 0


def test_prepare_reads_the_spooled_records_not_a_list(tmp_path: Path) -> None:
    seen: list[str] = []

    def prepare(records: Any) -> tuple[Any, ...]:
        seen.append(type(records).__name__)
        return (f"{sum(1 for _ in records)} read",)

    executor = InlineExecutor()
    got = _in_replay_slot(FakeService(tmp_path, executor), WHO,  # type: ignore[arg-type]
                          lambda h, seconds: big_records(), tally, hint="h", prepare=prepare)
    assert seen == ["generator"] and got == (f"{RECORDS} read", RECORDS, RECORDS * RECORD_BYTES)
    assert list(tmp_path.iterdir()) == []


def test_a_read_past_the_timeout_is_a_504_closed_and_removed(tmp_path: Path) -> None:
    closed: list[bool] = []

    def slow(h: object, seconds: float) -> Iterator[tuple[bytes, str]]:
        assert 0 < seconds <= 0.3  # ClickHouse is told the time left too
        for record in big_records(closed):
            time.sleep(0.1)
            yield record

    executor = InlineExecutor()
    service = FakeService(tmp_path, executor, timeout_s=0.3)
    with pytest.raises(HTTPException) as raised:
        _in_replay_slot(service, WHO, slow, tally, "x", hint="ask less")  # type: ignore[arg-type]
    assert raised.value.status_code == 504
    assert raised.value.detail == "the replay took longer than 0.3 s; ask less"
    assert closed == [True] and service.connections == 0  # the query stopped, given back
    assert executor.calls == [] and list(tmp_path.iterdir()) == []
    assert service.replays.running("desk") == 0


def test_a_query_clickhouse_stops_at_the_deadline_is_a_504(tmp_path: Path) -> None:
    def stopped(h: object, seconds: float) -> Iterator[tuple[bytes, str]]:
        time.sleep(seconds + 0.01)  # max_execution_time, as ClickHouse applies it
        raise HistoryError("Code: 159. DB::Exception: Timeout exceeded")
        yield b"", ""  # a generator

    service = FakeService(tmp_path, InlineExecutor(), timeout_s=0.2)
    with pytest.raises(HTTPException) as raised:
        _in_replay_slot(service, WHO, stopped, tally, "x", hint="h")  # type: ignore[arg-type]
    assert raised.value.status_code == 504 and list(tmp_path.iterdir()) == []


def a_504_while_the_worker_runs(tmp_path: Path) -> tuple[FakeService, InlineExecutor]:
    """A replay answered 504 whose worker is still busy (its future pending)."""
    executor = InlineExecutor(run=False)  # the worker never finishes within the request
    service = FakeService(tmp_path, executor, timeout_s=0.5)
    with pytest.raises(HTTPException) as raised:
        _in_replay_slot(service, WHO, lambda h, s: iter([(b"r", "s:1")]),  # type: ignore[arg-type]
                        tally, "x", hint="h")
    assert raised.value.status_code == 504
    return service, executor


def test_after_a_504_the_file_stays_until_the_worker_is_done(tmp_path: Path) -> None:
    service, executor = a_504_while_the_worker_runs(tmp_path)
    (spooled,) = tmp_path.iterdir()  # the worker may still be reading it
    assert service.replays.running("desk") == 1
    executor.futures[0].set_result(None)  # the worker ends
    assert not spooled.exists() and service.replays.running("desk") == 0


def test_a_failed_worker_or_read_leaves_no_file(tmp_path: Path) -> None:
    def broken(records: Any, config: Any = None) -> None:
        raise ValueError("a bug in the worker")

    def refused(h: object, s: float) -> Iterator[tuple[bytes, str]]:
        raise HTTPException(400, "no input events stored")

    service = FakeService(tmp_path, InlineExecutor())
    with pytest.raises(ValueError, match="a bug"):
        _in_replay_slot(service, WHO, lambda h, s: iter([]), broken,  # type: ignore[arg-type]
                        hint="h")
    with pytest.raises(HTTPException):
        _in_replay_slot(service, WHO, refused, tally, "x", hint="h")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == [] and service.connections == 0


def test_records_over_the_spool_limit_are_a_507_closed_and_removed(tmp_path: Path) -> None:
    """The spool lives under TMPDIR (a 1 GiB emptyDir in the chart): a history past
    ``queries.replay_spool_mb`` is refused before it fills the disk, not written whole."""
    closed: list[bool] = []
    executor = InlineExecutor()
    service = FakeService(tmp_path, executor, spool_max_bytes=3 * RECORD_BYTES)
    with pytest.raises(HTTPException) as raised:
        _in_replay_slot(service, WHO, lambda h, s: big_records(closed),  # type: ignore[arg-type]
                        tally, "x", hint="ask less")
    assert raised.value.status_code == 507
    assert raised.value.detail.startswith(
        "the stored records this replay reads are over the 12 MiB an on-demand replay may "
        "spool (queries.replay_spool_mb): ask less. Replay them offline instead: "
        "greekstream replay --from-history DSN --book BOOK --to T")
    assert closed == [True] and service.connections == 0  # the query stopped, given back
    assert executor.calls == [] and list(tmp_path.iterdir()) == []
    assert service.replays.running("desk") == 0
    # under the limit, the same records go through
    service = FakeService(tmp_path, executor, spool_max_bytes=RECORDS * RECORD_BYTES * 2)
    assert _in_replay_slot(service, WHO, lambda h, s: big_records(),  # type: ignore[arg-type]
                           tally, "x", hint="h") == ("x", RECORDS, RECORDS * RECORD_BYTES)


def test_the_service_holds_at_most_replay_spools_files_then_503(tmp_path: Path) -> None:
    """Each token may run ``per_token`` replays, but tokens are many: the files a pending
    worker or a 504 leave are counted for the whole service (``queries.replay_spools``),
    so that together they stay within the /tmp the chart sizes for them."""
    executor = InlineExecutor(run=False)  # the workers stay busy
    service = FakeService(tmp_path, executor, timeout_s=0.2, max_spools=2)
    for token in ("a", "b"):  # each a 504 whose file its worker still holds
        with pytest.raises(HTTPException) as raised:
            _in_replay_slot(service, SimpleNamespace(name=token),  # type: ignore[arg-type]
                            lambda h, s: iter([(b"r", "s:1")]), tally, "x", hint="h")
        assert raised.value.status_code == 504
    assert len(list(tmp_path.iterdir())) == 2
    read: list[bool] = []
    with pytest.raises(HTTPException) as raised:  # a third token: no room for its file
        _in_replay_slot(service, SimpleNamespace(name="c"),  # type: ignore[arg-type]
                        lambda h, s: read.append(True) or iter([]), tally, "x", hint="h",
                        busy_hint=" (or use mode=stored)")
    assert raised.value.status_code == 503
    assert raised.value.headers == {"Retry-After": "5"}
    assert raised.value.detail == ("this service already runs 2 replay(s), its most at once "
                                   "(queries.replay_spools); retry shortly (or use mode=stored)")
    assert read == [] and len(list(tmp_path.iterdir())) == 2  # nothing read, no file made
    assert service.replays.running("c") == 0 and service.replays.spools == 2
    executor.futures[0].set_result(None)  # a worker ends: its file goes, its place too
    assert service.replays.spools == 1
    executor.run = True
    assert _in_replay_slot(service, SimpleNamespace(name="c"),  # type: ignore[arg-type]
                           lambda h, s: iter([(b"r", "s:1")]), tally, "x",
                           hint="h") == ("x", 1, 1)
    assert service.replays.spools == 1 and len(list(tmp_path.iterdir())) == 1


def test_a_full_disk_is_a_507_that_says_so_and_leaves_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    import errno

    from greekstream.api import app

    def full(records: Any, out: Any, *args: Any) -> int:
        out.write(b"x" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(app, "spool", full)
    closed: list[bool] = []
    service = FakeService(tmp_path, InlineExecutor(), max_spools=1)
    with pytest.raises(HTTPException) as raised:
        _in_replay_slot(service, WHO, lambda h, s: big_records(closed),  # type: ignore[arg-type]
                        tally, "x", hint="h")
    assert raised.value.status_code == 507
    assert raised.value.detail == (
        "the disk this service spools replays to is full; retry later. Replay them offline "
        "instead: greekstream replay --from-history DSN --book BOOK --to T")
    assert "No space left on device" in caplog.text
    assert list(tmp_path.iterdir()) == [] and service.connections == 0
    assert service.replays.spools == 0 and service.replays.running("desk") == 0


def test_another_os_error_is_not_called_a_full_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from greekstream.api import app

    def broken(records: Any, out: Any, *args: Any) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(app, "spool", broken)
    service = FakeService(tmp_path, InlineExecutor())
    with pytest.raises(OSError, match="Input/output"):  # a 500 with its trace in the log
        _in_replay_slot(service, WHO, lambda h, s: iter([]), tally, hint="h")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_waiting_for_a_connection_counts_against_the_deadline(tmp_path: Path) -> None:
    """Every pooled connection busy (long queries) past the replay's timeout: a 504 at
    the deadline, not a wait for as long as they take."""
    pool = HistoryPool.__new__(HistoryPool)  # one fake connection, without ClickHouse
    import queue
    pool._idle = queue.Queue()
    pool.size = 1
    service = FakeService(tmp_path, InlineExecutor(), timeout_s=0.3, pool=pool)
    read: list[bool] = []
    t = time.monotonic()
    with pytest.raises(HTTPException) as raised:  # the one connection is taken
        _in_replay_slot(service, WHO, lambda h, s: read.append(True) or iter([]),  # type: ignore[arg-type]
                        tally, "x", hint="h")
    assert raised.value.status_code == 504 and time.monotonic() - t < 2
    assert read == [] and list(tmp_path.iterdir()) == []
    pool._idle.put(object())  # free again: the same replay goes through
    assert _in_replay_slot(service, WHO, lambda h, s: iter([(b"r", "s:1")]),  # type: ignore[arg-type]
                           tally, "x", hint="h") == ("x", 1, 1)


def test_a_what_if_whose_deadline_passed_while_preparing_reaches_no_worker(
        tmp_path: Path) -> None:
    def slow_prepare(records: Any) -> tuple[Any, ...]:
        for _ in records:
            pass
        time.sleep(0.4)  # past the 0.3 s deadline
        return ("prepared",)

    executor = InlineExecutor(run=False)
    service = FakeService(tmp_path, executor, timeout_s=0.3)
    with pytest.raises(HTTPException) as raised:
        _in_replay_slot(service, WHO, lambda h, s: iter([(b"r", "s:1")]),  # type: ignore[arg-type]
                        tally, hint="h", prepare=slow_prepare)
    assert raised.value.status_code == 504
    assert executor.calls == []  # no replay nobody waits for: its slot and file are free
    assert service.replays.running("desk") == 0 and list(tmp_path.iterdir()) == []
