"""`greekstream produce -` on a pipe held open, against a real Tansu broker: an idle spell
is one tick (last event time + the idle wall time) whose gs-seq follows the lines', the
next lines follow the tick, the end of the input is the end-of-input tick; and a processor
fed by it commits a dirty key's exposure of a window with no further input."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka_helpers import (
    cli,
    processor_env,
    read_topic,
    start_processor,
    stop,
    wait_assigned,
    wait_for,
)
from tests.integration.kafka_broker import free_port
from tests.unit import builders as b

from greekstream.core.timeutil import parse_ts
from greekstream.kafka.gateway import SEQ_HEADER, is_mark
from greekstream.kafka.topics import Topics
from greekstream.settings import EngineSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]
_ids = itertools.count()
E_US = int(EngineSettings.model_fields["emit_interval_ms"].default) * 1000  # shipped E

SETUP = [
    b.option("C60", 60000),
    b.index("x0", 0.0, 60000),
    b.quote_opt("q0", 0.0, "C60", 60000, 0.6),
    b.trade("t-a", 0.01, "C60", "buy", 2, book="desk-a"),
    b.quote_opt("q-dirty", 0.05, "C60", 61000, 0.62),  # dirties desk-a in [0, 100) ms
]
LATER = [b.quote_opt("q2", 7.0, "C60", 61500, 0.6), b.index("x2", 7.2, 61500)]


@pytest.fixture
def prefix(kafka_bootstrap: str) -> str:
    name = f"live{next(_ids)}x{free_port()}"
    done = cli("topics", "create", "--bootstrap", kafka_bootstrap, "--prefix", name,
               "--partitions", "2", "--market-partitions", "2")
    assert done.returncode == 0, done.stderr
    return name


def live_gateway(bootstrap: str, prefix: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREEKSTREAM_")}
    return subprocess.Popen(
        [sys.executable, "-m", "greekstream.cli", "produce", "-", "--bootstrap", bootstrap,
         "--prefix", prefix, "--quiet", *extra],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0,
        env=env)


def running(gateway: subprocess.Popen[bytes]) -> None:
    """The live gateway is still reading (a wait fails at once, with its error, if not)."""
    if gateway.poll() is not None:
        assert gateway.stderr is not None
        raise AssertionError(f"the gateway exited {gateway.returncode}: "
                             f"{gateway.stderr.read().decode()[-2000:]}")


def inputs(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    """Every input record but the marks, in gs-seq order: value, seq, ts, whether a tick."""
    topics = Topics(prefix)
    out = []
    for key, value, headers in read_topic(bootstrap, [*topics.market_topics,
                                                      *topics.book_topics]):
        if not is_mark(key, value):
            obj = orjson.loads(value)
            out.append({"value": value, "seq": int(dict(headers)[SEQ_HEADER]),
                        "ts": parse_ts(obj["ts"]), "tick": obj["type"] == "tick"})
    return sorted(out, key=lambda r: r["seq"])


def ticks(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["tick"]]


def last_ts(lines: list[bytes]) -> int:
    return max(parse_ts(orjson.loads(line)["ts"]) for line in lines)


def test_an_idle_pipe_gets_one_tick_between_its_lines_and_the_end_tick_at_its_end(
        kafka_bootstrap: str, prefix: str) -> None:
    with live_gateway(kafka_bootstrap, prefix) as gateway:
        try:
            assert gateway.stdin is not None
            gateway.stdin.write(b"\n".join(SETUP) + b"\n")  # held open: no end of input

            def ticked() -> bool:
                running(gateway)
                return any(v.startswith(b'{"type":"tick"')  # ticks go to the index topic
                           for _k, v, _h in read_topic(kafka_bootstrap, f"{prefix}.index"))

            wait_for(ticked, 60, "an idle tick", every_s=0.2)
            time.sleep(1.0)  # ten windows more of silence: still the one tick
            first = inputs(kafka_bootstrap, prefix)
            assert len(ticks(first)) == 1, ticks(first)
            tick = ticks(first)[0]
            assert last_ts(SETUP) + E_US <= tick["ts"] < last_ts(SETUP) + E_US + 5_000_000
            lines = [r for r in first if not r["tick"]]
            assert sorted(r["value"] for r in lines) == sorted(SETUP)
            assert tick["seq"] > max(r["seq"] for r in lines)
            running(gateway)  # still reading
            # more lines, then the end of the input
            _out, err = gateway.communicate(b"\n".join(LATER) + b"\n", timeout=60)
            assert gateway.returncode == 0, err.decode()[-2000:]
        finally:
            if gateway.poll() is None:
                gateway.kill()
    every = inputs(kafka_bootstrap, prefix)
    later = [r for r in every if r["value"] in LATER]
    assert len(later) == len(LATER)
    assert min(r["seq"] for r in later) > tick["seq"]  # after the idle tick
    end = every[-1]  # the last seq: the end-of-input tick, as a file's
    assert end["tick"] and end["ts"] == last_ts(LATER) + E_US
    assert len({r["seq"] for r in every}) == len(every)  # lines and ticks: distinct seqs
    assert "gs-seq" in err.decode() and "--first-seq" in err.decode()


def test_a_processor_fed_by_an_idle_pipe_commits_the_dirty_keys_exposure_of_its_window(
        kafka_bootstrap: str, prefix: str, tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    proc = start_processor(kafka_bootstrap, "live", processor_env(prefix, f"g-{prefix}"), log)
    try:
        wait_assigned(log, 90)
        with live_gateway(kafka_bootstrap, prefix) as gateway:
            try:
                assert gateway.stdin is not None
                gateway.stdin.write(b"\n".join(SETUP) + b"\n")  # held open: no end of input

                def closed_window() -> list[dict[str, Any]]:
                    running(gateway)
                    exposures = read_topic(kafka_bootstrap, f"{prefix}.exposures")
                    return [e for e in (orjson.loads(v) for _k, v, _h in exposures)
                            if e["caused_by"] == "q-dirty"]

                got = wait_for(closed_window, 60, "the dirty key's exposure of the idle window",
                               every_s=0.5)
                running(gateway)  # the input is still open: the idle tick closed the window
                assert [(e["book"], e["underlying"], e["ts"]) for e in got] == [
                    ("desk-a", "BTC", b.ts(0.05))]
                _out, err = gateway.communicate(timeout=60)  # the end of the input
                assert gateway.returncode == 0, err.decode()[-2000:]
            finally:
                if gateway.poll() is None:
                    gateway.kill()
    finally:
        assert stop(proc) == 0, log.read_text()[-3000:]


def test_a_live_line_dated_past_max_ahead_is_rejected_and_the_rest_published(
        kafka_bootstrap: str, prefix: str) -> None:
    """A live line dated more than --max-ahead past the wall clock goes to .rejected as
    ts_ahead (source stdin:LINE) and exit status 1; the lines around it are published."""
    soon = b.rec("trade", "t-soon", 0.0, book="desk-a", instrument_id="C60", side="buy",
                 quantity=1, price=1.0)
    soon = soon.replace(b.ts(0.0).encode(), b"2100-01-01T00:00:00Z")
    with live_gateway(kafka_bootstrap, prefix, "--max-ahead", "600") as gateway:
        _out, err = gateway.communicate(b"\n".join([*SETUP, soon, *LATER]) + b"\n",
                                        timeout=60)
    assert gateway.returncode == 1, err.decode()[-2000:]
    assert "1 rejected (ts_ahead: 1)" in err.decode()
    (rejected,) = [orjson.loads(v) for _k, v, _h in read_topic(kafka_bootstrap,
                                                                f"{prefix}.rejected")]
    assert (rejected["reason"], rejected["source"]) == ("ts_ahead", f"stdin:{len(SETUP) + 1}")
    assert "--max-ahead (600 s)" in rejected["detail"]
    published = [r["value"] for r in inputs(kafka_bootstrap, prefix) if not r["tick"]]
    assert sorted(published) == sorted([*SETUP, *LATER])
