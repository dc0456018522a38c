"""Fixtures for the history tests: one chDB directory per session (chDB runs one
engine per process), a fresh database per test, and a small sample event file."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from tests.integration.kafka_broker import free_port, tansu

from greekstream.api.app import create_app
from greekstream.api.tokens import load_tokens
from greekstream.history import connect
from greekstream.sample.generate import write_sample
from greekstream.settings import EngineSettings, QuerySettings

DESK_A_TOKEN = "a" * 32  # sees desk-a only
ALL_TOKEN = "z" * 32  # sees every book

_counter = itertools.count()

BAD_LINES = [
    b'{"type":"trade","event_id":"bad-1"',  # not JSON
    b'{"type":"trade","event_id":"bad-2","ts":"2026-03-02T00:30:00Z","book":"desk-a",'
    b'"instrument_id":"NO-SUCH","side":"buy","quantity":1,"price":1}',  # unknown instrument
    b'[1, 2, 3]',  # not an object
]


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def dsn(chdb_dir: Path) -> Iterator[str]:
    """A chDB DSN naming a database no other test uses (dropped when the test is done)."""
    database = f"t{next(_counter)}"
    yield f"chdb://{chdb_dir}?database={database}"
    drop(chdb_dir, database)


def drop(chdb_dir: Path, database: str) -> None:
    """Drop a test's database and those it named after it (t5forged, not t50). The
    session's one chDB engine kept every database a test made, each ~25 tables: by
    the fortieth a migrate took twice as long, every query of the worker slowed, and
    the tables' background work took CPU from the other worker."""
    with connect(f"chdb://{chdb_dir}?database={database}", create=True) as history:
        for (name,) in history.rows("SHOW DATABASES"):
            rest = name[len(database):] if name.startswith(database) else None
            if rest is not None and not rest[:1].isdigit():
                history.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")


@pytest.fixture(scope="session")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kafka-test sample (~5k events, trades, breaches, hedge intents) + bad records,
    with every bad record placed in the middle of the stream."""
    folder = tmp_path_factory.mktemp("events")
    base = folder / "base.jsonl"
    write_sample(base, "kafka-test", seed=11, show_progress=False)
    lines = base.read_bytes().splitlines()
    mid = len(lines) // 2
    path = folder / "events.jsonl"
    path.write_bytes(b"\n".join([*lines[:mid], *BAD_LINES, lines[mid - 1], *lines[mid:]]) + b"\n")
    return path


@pytest.fixture(scope="session")
def events_outputs(events_file: Path) -> tuple[object, ...]:
    """The outputs of one replay of events_file (the engine is deterministic: replayed once
    per session, stored into a fresh database by each ``stored``)."""
    from greekstream.runtime.replay import read_records, replay

    return tuple(replay(read_records(events_file)).outputs)


def store_trades(dsn: str, folder: Path, trades: list[tuple[str, str, float]]) -> None:
    """Store (inputs and outputs) a perpetual P on BTC marked at 100 and one trade of 1 P
    per (book, side, price), a second apart from 2026-03-01T00:00:03Z."""
    import orjson

    from greekstream.history import write_replay
    from greekstream.runtime.replay import read_records, replay

    def rec(type_: str, eid: str, second: int, **fields: object) -> bytes:
        return orjson.dumps({"type": type_, "event_id": eid,
                             "ts": f"2026-03-01T00:00:{second:02d}Z", **fields})

    lines = [rec("instrument", "i", 0, instrument_id="P", kind="perpetual", underlying="BTC",
                 settlement="linear", contract_size=1),
             rec("index", "x", 1, underlying="BTC", price=100.0),
             rec("quote", "q", 2, instrument_id="P", mark_price=100.0)]
    lines += [rec("trade", f"t{i}", 3 + i, book=book, instrument_id="P", side=side,
                  quantity=1, price=price) for i, (book, side, price) in enumerate(trades)]
    path = folder / "trades.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    write_replay(dsn, read_records(path), replay(read_records(path)).outputs)


@pytest.fixture
def stored(dsn: str, events_file: Path, events_outputs: tuple[object, ...]) -> Iterator[str]:
    """A DSN holding a full replay of events_file (inputs and outputs)."""
    _store(dsn, events_file, events_outputs)
    yield dsn


def _store(dsn: str, events_file: Path, events_outputs: tuple[object, ...]) -> None:
    from greekstream.history import write_replay
    from greekstream.runtime.replay import read_records

    write_replay(dsn, read_records(events_file), events_outputs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Kafka


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker for the sink tests (tests/integration/kafka_broker.py)."""
    with tansu(tmp_path_factory.mktemp("tansu")) as bootstrap:
        yield bootstrap


# ----------------------------------------------------------------------------- serve


@contextmanager
def _serving(dsn: str, tokens_file: Path) -> Iterator[str]:
    """Yield the base URL of a running `greekstream serve` app over ``dsn``."""
    with serving_app(dsn, tokens_file) as (url, _app):
        yield url


@contextmanager
def serving_app(
    dsn: str, tokens_file: Path, settings: QuerySettings | None = None,
    engine: EngineSettings | None = None,
) -> Iterator[tuple[str, FastAPI]]:
    """Yield the base URL and the app of a running `greekstream serve` over ``dsn``
    (``engine``: the processors' engine settings it replays with)."""
    port = free_port()
    history = connect(dsn)
    app = create_app(history, load_tokens(str(tokens_file), None), settings, engine)
    # log_config=None: uvicorn does not reconfigure this process's logging (dictConfig) for
    # each server the tests start; its errors (an exception after a response began, which
    # the client sees only as a closed connection) reach pytest's log capture by the root
    # logger and show under "Captured log" in the report of the test that failed
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           lifespan="off", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the query service did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(20)
        app.state.service.close()
        history.close()


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    return _tokens(tmp_path / "tokens.yaml")


def _tokens(path: Path) -> Path:
    """A tokens file: DESK_A_TOKEN sees desk-a, ALL_TOKEN every book."""
    path.write_text(f'"{DESK_A_TOKEN}": ["desk-a"]\n"{ALL_TOKEN}": "*"\n')
    return path


@pytest.fixture
def service_url(stored: str, tokens_file: Path) -> Iterator[str]:
    """The base URL of a real `greekstream serve` (uvicorn) over the stored history."""
    with _serving(stored, tokens_file) as url:
        yield url


# --------------------------------------------------- the same, once per test module
# For the modules whose tests only read the stored replay (none writes, migrates or alters
# the store): storing the sample's replay took ~12 s of each test's setup.


@pytest.fixture(scope="module")
def shared_stored(chdb_dir: Path, events_file: Path,
                  events_outputs: tuple[object, ...]) -> Iterator[str]:
    """``stored``, written once for the module's tests."""
    database = f"t{next(_counter)}"
    dsn = f"chdb://{chdb_dir}?database={database}"
    _store(dsn, events_file, events_outputs)
    yield dsn
    drop(chdb_dir, database)


@pytest.fixture(scope="module")
def shared_service_url(shared_stored: str,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``service_url``, one service over ``shared_stored`` for the module's tests."""
    tokens = _tokens(tmp_path_factory.mktemp("tokens") / "tokens.yaml")
    with _serving(shared_stored, tokens) as url:
        yield url
