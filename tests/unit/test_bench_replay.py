"""bench/bench_replay.py: its engine-only peer does the work `greekstream replay` does
(same engine settings, same garbage collector), and its GOAL verdicts need the goal's
1M-event file."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_replay  # noqa: E402
import goals  # noqa: E402
from greekstream.core.engine import EngineConfig  # noqa: E402
from greekstream.runtime import collector  # noqa: E402
from greekstream.runtime.replay import read_records, replay  # noqa: E402
from greekstream.sample import sample_path  # noqa: E402


def _outputs(path: Path, config: EngineConfig) -> int:
    return sum(replay(read_records(path), config=config, keep_outputs=False).counts.values())


def test_engine_only_runs_with_the_replay_commands_settings_and_collector(
    tmp_path: Path,
) -> None:
    day = tmp_path / "day.jsonl"
    with sample_path("demo").open("rb") as handle:
        day.write_bytes(b"".join(itertools.islice(handle, 2000)))
    v1 = _outputs(day, EngineConfig(emit_interval_ms=0))
    assert v1 != _outputs(day, EngineConfig())  # the setting shows in the count
    script = bench_replay.ENGINE_ONLY + (
        "\nimport gc\nprint(*gc.get_threshold(), file=sys.stderr)\n")
    env = {**os.environ, "GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS": "0"}
    done = subprocess.run([sys.executable, "-c", script, str(day)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == v1  # what `greekstream replay` would emit
    threshold = tuple(int(x) for x in done.stderr.strip().splitlines()[-1].split())
    assert threshold == collector.THRESHOLDS  # as cli.main sets it for the command


@pytest.mark.parametrize(("lines", "verdict"), [(80_000, "n/a"), (1_000_000, "met")])
def test_the_goal_verdicts_need_the_1m_event_file(
    lines: int, verdict: str, capsys: pytest.CaptureFixture[str],
) -> None:
    bench_replay.report_goals(lines, replay_mb=300.0, replay_s=12.0, engine_s=10.0)
    rows = [goals.parse(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["met"] for r in rows if r is not None] == [verdict, verdict]
    bench_replay.report_goals(1_000_000, replay_mb=700.0, replay_s=20.0, engine_s=10.0)
    rows = [goals.parse(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["met"], r["ratio"]) for r in rows if r is not None] == [
        ("missed", ""), ("missed", "2.00x")]
