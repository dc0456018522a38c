"""A replay worker that dies (the OOM killer in serve's 512 MiB, a segfault, a signal)
breaks the ProcessPoolExecutor for good: every replay after it, whoever's, failed with
BrokenProcessPool (a 500) until serve was restarted, and /readyz still said ready. Now
the replay it ran is a 503 saying so, and the next one runs on new workers."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException

from greekstream.api.app import _in_replay_slot
from greekstream.api.pool import Replays
from greekstream.settings import EngineSettings

pytestmark = pytest.mark.timeout(120)
WHO = SimpleNamespace(name="desk")


def killed(records: Any, config: Any = None) -> None:
    """In the worker: killed as the OOM killer kills it (SIGKILL, nothing cleaned up)."""
    os.kill(os.getpid(), signal.SIGKILL)


def counted(records: Any, config: Any = None) -> int:
    return sum(1 for _ in records)


class Service:
    """What _in_replay_slot uses of api/app.py's Service, with real worker processes."""

    def __init__(self, spool_dir: Path) -> None:
        self.replays = Replays(1, 1, 60.0)
        self.replays.spool_dir = spool_dir
        self.engine = EngineSettings().model_dump_json()

    @contextmanager
    def db(self, timeout: float | None = None) -> Iterator[object]:
        yield object()


def _records(h: object, seconds: float) -> Iterator[tuple[bytes, str]]:
    return iter([(b"r1", "inputs:0"), (b"r2", "inputs:1")])


def test_a_worker_killed_mid_replay_is_a_503_and_the_next_replay_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    service = Service(tmp_path)
    try:
        assert _in_replay_slot(service, WHO, _records, counted, hint="h") == 2  # type: ignore[arg-type]
        with caplog.at_level(logging.ERROR, logger="greekstream.serve"), \
                pytest.raises(HTTPException) as raised:
            _in_replay_slot(service, WHO, _records, killed, hint="h")  # type: ignore[arg-type]
        assert raised.value.status_code == 503, raised.value.detail
        assert "ended abruptly" in raised.value.detail
        assert raised.value.headers == {"Retry-After": "5"}
        assert "replay worker" in caplog.text
        # not a pool broken for good: the next replay, of any token, runs
        assert _in_replay_slot(service, WHO, _records, counted, hint="h") == 2  # type: ignore[arg-type]
        assert service.replays.running("desk") == 0 and list(tmp_path.iterdir()) == []
    finally:
        service.replays.close()
