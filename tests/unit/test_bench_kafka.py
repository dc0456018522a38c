"""bench/bench_kafka.py without a broker: the restart's history is what its load
published, and the latency verdict needs the goal's run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_kafka  # noqa: E402


class _Proc:
    def send_signal(self, _sig: int) -> None:
        pass

    def wait(self, _timeout: float | None = None) -> int:
        return 0


def test_the_restart_counts_the_quotes_its_load_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The paced gateway prints how many quotes it published; at 10,000/s on a loaded
    machine it falls behind, so rate x seconds is not the history the restart had."""
    real_popen = subprocess.Popen

    def paced(cmd: list[str], **kwargs: Any) -> Any:
        assert "--paced-producer" in cmd  # published 4,321 of 10,000/s x 4 s
        return real_popen([sys.executable, "-c", "print(4321)"], **kwargs)

    restored = {"seconds": 0.2, "checkpoint_records_read": 3}
    monkeypatch.setattr(bench_kafka, "start_cli", lambda *a, **k: _Proc())
    monkeypatch.setattr(bench_kafka, "log_events", lambda _log, _event: [restored])
    monkeypatch.setattr(bench_kafka, "total_lag", lambda _port: 0.0)
    monkeypatch.setattr(bench_kafka, "wait", lambda predicate, *_: predicate() or [restored])
    monkeypatch.setattr(bench_kafka, "subprocess",
                        SimpleNamespace(Popen=paced, PIPE=subprocess.PIPE,
                                        DEVNULL=subprocess.DEVNULL))
    monkeypatch.setattr(bench_kafka.urllib.request, "urlopen",
                        lambda *a, **k: SimpleNamespace(read=lambda: b'{"applied": 7}'))
    got = bench_kafka.recovery("127.0.0.1:1", "market", tmp_path / "tail.jsonl", tmp_path,
                               10_000.0, 4.0, None)
    assert got["produced"] == 4321 and got["reapplied_records"] == 7


def _latency(produced: float, p99: float, sustained: bool = True) -> dict[str, float]:
    return {"rate": 10_000.0, "produced": produced, "p99": p99,
            "sustained": float(sustained)}


@pytest.mark.parametrize(("r", "seconds", "verdict"), [
    (_latency(100_000, 120.0), 10.0, None),  # --quick: not the goal's 60 s
    (_latency(600_000, 120.0), 60.0, True),
    (_latency(600_000, 400.0), 60.0, False),
    (_latency(600_000, 120.0, sustained=False), 60.0, False),
    (_latency(480_000, 120.0), 60.0, False),  # the gateway offered 8,000/s, not 10,000
])
def test_the_latency_verdict(r: dict[str, float], seconds: float, verdict: bool | None
                             ) -> None:
    assert bench_kafka.latency_met(r, seconds) is verdict
