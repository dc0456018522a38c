"""`make bench`'s goal table: benches print GOAL lines, run_all collects them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import goals  # noqa: E402
import run_all  # noqa: E402


def test_a_goal_line_reads_back(capsys: pytest.CaptureFixture[str]) -> None:
    goals.goal("history sink end to end (x)", ">= 0.75x", 123456.0, "rows/s", True,
               "chDB | file", 0.8123)
    line = capsys.readouterr().out
    assert goals.parse(line) == {
        "figure": "history sink end to end (x)", "goal": ">= 0.75x", "measured": "123,456.0",
        "unit": "rows/s", "peer": "chDB / file", "ratio": "0.81x", "met": "met"}
    assert goals.parse("some other line") is None


def test_run_all_collects_goal_lines_from_a_bench_and_lists_the_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    bench = tmp_path / "bench_fake.py"
    bench.write_text(
        f"import sys; sys.path.insert(0, {str(BENCH)!r})\n"
        "from goals import goal\n"
        "print('a table line')\n"
        "goal('decode + validate hot inputs (q)', '>= 1M/s', 2e6, 'records/s', True,"
        " 'orjson', 1.5)\n"
        "goal('replay --out of 1M market events', 'RSS < 500 MB', 300.0, 'MB', False)\n")
    collected: list[dict[str, str]] = []
    code, _ = run_all.run_one(bench, quick=True, goals=collected)
    assert code == 0 and "a table line" in capsys.readouterr().out
    assert [g["figure"] for g in collected] == ["decode + validate hot inputs (q)",
                                                "replay --out of 1M market events"]
    table = run_all.goal_table(collected)
    assert table[0].split()[:2] == ["figure", "goal"]
    body = "\n".join(table[2:])
    # measured rows in the issue's order, then every goal no bench reported
    assert body.index("replay --out of 1M") < body.index("decode + validate hot inputs (q)")
    assert "2,000,000.0 records/s" in body and "missed" in body
    missing = [line for line in table[2:] if "not reported by a bench" in line]
    assert len(missing) == len(run_all.ISSUE_GOALS) - 2


def test_bench_engine_refuses_a_day_the_sample_cannot_make() -> None:
    """Too few --events is one clear line and exit 2, not a traceback from the generator."""
    import subprocess

    done = subprocess.run([sys.executable, str(BENCH / "bench_engine.py"), "--events", "8000"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--events 8000: the bench profile needs at least 10000" in done.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("bench_*.py")))
def test_every_bench_starts_as_make_bench_runs_it(script: str, tmp_path: Path) -> None:
    """`make bench` runs each script as ``python bench/NAME.py`` (only bench/ on the path,
    whatever the working directory): its imports resolve and ``--help`` answers."""
    import subprocess

    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
