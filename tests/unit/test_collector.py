"""Every `greekstream` command runs with the collector set for a streaming engine
(runtime/collector.py), and that setting changes no output."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from greekstream.cli import main
from greekstream.core.engine import Engine, EngineConfig
from greekstream.runtime import collector
from greekstream.runtime.replay import read_records
from greekstream.sample import sample_path


def test_a_command_runs_with_the_collectors_thresholds(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    assert main(["keygen", str(tmp_path / "k")]) == 0
    assert gc.get_threshold() == collector.THRESHOLDS
    assert collector.THRESHOLDS[0] > 700  # (tests/conftest.py puts pytest's back after)


def test_the_thresholds_change_no_output() -> None:
    records = list(read_records(sample_path("kafka-test")))[:3000]
    runs = []
    for setting in ((700, 10, 10), collector.THRESHOLDS):
        gc.set_threshold(*setting)
        engine = Engine(EngineConfig())
        out = engine.apply_batch(records) + engine.flush()
        runs.append([o.model_dump_json() for o in out])
    assert runs[0] == runs[1]
    assert len(runs[0]) > 1000
