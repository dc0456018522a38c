"""bench/bench_restart.py: a wait that gives up leaves no processor running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_restart  # noqa: E402


def test_a_timed_out_wait_stops_the_processor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[subprocess.Popen[bytes]] = []

    def start(*_args: Any) -> subprocess.Popen[bytes]:  # stands in for `greekstream process`
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        return started[-1]

    def give_up(_predicate: Any, _timeout: float, what: str) -> None:
        raise SystemExit(f"timed out waiting for {what}")

    monkeypatch.setattr(bench_restart, "start", start)
    monkeypatch.setattr(bench_restart, "cli", lambda *_a: None)
    monkeypatch.setattr(bench_restart, "wait", give_up)
    try:
        with pytest.raises(SystemExit, match="the first start"):
            bench_restart.rounds("127.0.0.1:1", tmp_path, tmp_path / "s.jsonl", False, 1)
        assert started and started[-1].poll() is not None  # not left running
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


class _Started(Exception):
    pass


@pytest.mark.parametrize(("argv", "kills"), [(["--quick"], 1), ([], 3), (["--kills", "2"], 2)])
def test_it_takes_quick_as_make_bench_passes_it(
    argv: list[str], kills: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """run_all passes --quick to every bench; this one refused it (exit 2, not run)."""
    asked: list[int] = []

    def rounds(*args: Any) -> list[tuple[float, float]]:
        asked.append(args[-1])
        raise _Started

    monkeypatch.setattr(sys, "argv", ["bench_restart.py", *argv])
    monkeypatch.setattr(bench_restart, "start_tansu", lambda _log: (_Proc(), "127.0.0.1:1"))
    monkeypatch.setattr(bench_restart, "write_sample", lambda path, *_a, **_k:
                        path.write_bytes(b"{}\n"))
    monkeypatch.setattr(bench_restart, "rounds", rounds)
    with pytest.raises(_Started):
        bench_restart.main()
    assert asked == [kills]


class _Proc:
    def terminate(self) -> None:
        pass

    def wait(self, _timeout: float | None = None) -> int:
        return 0
