"""A sink's first batch window starts once its store is open (history/sink.py step), real
chDB.

``step`` took its deadline (``batch_seconds``) before it opened the store, which it does on
its first batch when ``start`` has not run (tests/unit/history/test_sink_restart.py): an
open slower than the window, as under load on a shared machine, left no time to read, so
the step stored nothing and those tests failed now and then.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import SecretStr

from greekstream.history import sink as sink_module
from greekstream.history.client import History
from greekstream.history.migrate import migrate
from greekstream.history.sink import Sink
from greekstream.settings import SinkSettings
from tests.unit.history.test_sink_token import Consumer, trade

pytestmark = pytest.mark.timeout(120)


def test_a_slow_open_leaves_the_batch_its_window(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = sink_module.connect

    def slow(dsn: str, create: bool = False) -> History:
        time.sleep(0.5)
        return real(dsn, create=create)

    monkeypatch.setattr(sink_module, "connect", slow)
    sink = Sink(SinkSettings(clickhouse_dsn=SecretStr(f"chdb://{tmp_path}"), batch_rows=10,
                             batch_seconds=0.3))
    assert sink.history is None
    sink.consumer = Consumer(0, [trade(f"s{n}", "2026-03-01T10:00:00Z")  # type: ignore[assignment]
                                 for n in range(3)])
    with real(f"chdb://{tmp_path}", create=True) as history:
        migrate(history)
    sink.step()
    assert sink.health.rows_stored == 3
    sink.close()
