"""`emit_interval_ms: 0` reproduces v1's outputs byte for byte (SPEC v2, *Emission in
event-time windows*; issue 12).

The reference files in tests/golden/v1/ were captured ONCE from main at 60dab06 (the
last commit before emission windows), with ``Engine(EngineConfig())`` fed record by
record through ``Engine.handle``, each output written with ``events.encode``:

- ``<case>.outputs.jsonl``: every golden case (tests/golden/cases/<case>.jsonl);
- ``kafka_test_day.outputs.jsonl.gz``: the sample day ``python -m greekstream.sample
  --profile kafka-test`` (seed 7, 5,164 events: instruments, quotes, index from two
  sources, trades, collateral, limits with hedging, margin, loans, LP positions and a
  reorg), whose input is checked in next to it (``kafka_test_day.events.jsonl.gz``) so
  that a change of the generator cannot move it.

Two SPEC v2 changes of the *numbers* are switched back to v1 on the input side, each
by its own knob, and nothing else: breach hysteresis (SPEC v2, default 0.02; v1 had
none) by ``"breach_hysteresis": 0`` on every `limits` record that sets none, and the
stablecoin rule of the scenario library (a stablecoin key gets no default price grid;
v1 shocked USDC like any asset) by ``EngineConfig.grids`` returning SPEC's default grid
for every underlying.

Never regenerate these files: they are v1. Later work adds fields to v1 outputs
(exposure: ``vanna``, ``volga``, ``funding_usd_per_day``; every output: ``prev``,
``hash``), adds output types (``pnl``, ``regime``, ``intent_status``, ``var``, ...) and
makes ``risk_matrix`` a compact columnar payload. So the comparison *projects* today's
outputs onto v1: it keeps only v1 output types, keeps only v1 fields (in v1 order), and
turns a compact risk matrix back into v1's list of scenarios (:func:`v1_risk_matrix`).
Everything else is byte for byte: the same records in the same order, and every v1
field's JSON text identical (both sides re-encoded by orjson after projection, so a
float must be the same float, an int stay an int, a null stay a null).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import encode
from greekstream.core.scenarios import DEFAULT_GRID
from greekstream.runtime.replay import read_records

V1 = Path(__file__).parent / "v1"
CASES = sorted(p.stem for p in (Path(__file__).parent / "cases").glob("*.jsonl"))
E0 = EngineConfig(emit_interval_ms=0, grids=lambda _underlying: DEFAULT_GRID)

_SCENARIO = ("price_shock", "vol_shock", "time_shift_h", "pnl", "name")
V1_FIELDS: dict[str, tuple[str, ...]] = {
    "exposure": ("type", "event_id", "ts", "book", "underlying", "delta", "delta_equity",
                 "gamma", "vega", "theta", "delta_usd", "positions", "caused_by", "stale",
                 "oracle_divergence"),
    "breach": ("type", "event_id", "ts", "breach_id", "book", "underlying", "metric",
               "value", "limit", "state", "caused_by"),
    "hedge_intent": ("type", "event_id", "ts", "intent_id", "book", "underlying",
                     "instrument_id", "side", "quantity", "delta_before", "delta_after",
                     "basis", "caused_by"),
    "risk_matrix": ("type", "event_id", "ts", "book", "underlying", "as_of", "scenarios",
                    "worst_loss", "worst_scenario", "liq_move_down", "liq_move_up",
                    "liq_price_down", "liq_price_up", "caused_by"),
    "rejected": ("type", "event_id", "ts", "reason", "detail", "source", "raw"),
}


def v1_risk_matrix(record: dict[str, Any]) -> dict[str, Any]:
    """A risk matrix in v1's shape: ``scenarios`` as a list of objects. A compact
    (columnar) matrix carries ``price_shocks``, ``vol_shocks``, ``time_shift_h``,
    ``names`` and ``pnl`` as parallel arrays instead (issue 12, item 5)."""
    if "scenarios" in record:
        return record
    columns = [record["price_shocks"], record["vol_shocks"], record["time_shift_h"],
               record["pnl"], record["names"]]
    n = len(columns[0])
    columns = [c if isinstance(c, list) else [c] * n for c in columns]  # a scalar column
    scenarios = [dict(zip(_SCENARIO, row, strict=True)) for row in zip(*columns, strict=True)]
    return {**record, "scenarios": scenarios}


def project(record: dict[str, Any]) -> bytes | None:
    """A record's v1 projection as JSON bytes; None for an output type v1 did not have."""
    fields = V1_FIELDS.get(record["type"])
    if fields is None:
        return None
    if record["type"] == "risk_matrix":
        record = v1_risk_matrix(record)
    return orjson.dumps({name: record[name] for name in fields})


def projected(lines: Iterable[bytes]) -> list[bytes]:
    return [p for line in lines if (p := project(orjson.loads(line))) is not None]


def v1_input(raw: bytes) -> bytes:
    """A `limits` record without ``breach_hysteresis`` gets v1's: none."""
    if b'"limits"' not in raw:
        return raw
    record = orjson.loads(raw)
    if record.get("type") != "limits" or "breach_hysteresis" in record:
        return raw
    return orjson.dumps({**record, "breach_hysteresis": 0.0})


def outputs_one_by_one(path: Path, config: EngineConfig) -> list[bytes]:
    engine = Engine(config)
    return [encode(o) for raw, src in read_records(path)
            for o in engine.handle(v1_input(raw), src)]


def assert_same(got: list[bytes], want: list[bytes]) -> None:
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        assert g == w, f"output {i} differs from v1:\n got  {g[:400]!r}\n want {w[:400]!r}"
    assert len(got) == len(want), f"{len(got)} outputs, v1 had {len(want)}"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # the file name is part of every `rejected.source`: keep v1's
    path = tmp_path_factory.mktemp("v1") / "kafka_test_day.events.jsonl"
    path.write_bytes(gzip.decompress((V1 / "kafka_test_day.events.jsonl.gz").read_bytes()))
    return path


@pytest.mark.parametrize("case", CASES)
def test_golden_case_e0_is_v1(case: str) -> None:
    want = projected((V1 / f"{case}.outputs.jsonl").read_bytes().splitlines())
    got = projected(outputs_one_by_one(Path(__file__).parent / "cases" / f"{case}.jsonl", E0))
    assert_same(got, want)


def test_sample_day_e0_is_v1(day: Path) -> None:
    want = projected(gzip.decompress(
        (V1 / "kafka_test_day.outputs.jsonl.gz").read_bytes()).splitlines())
    assert len(want) > 15_000  # every v1 output type of the day
    assert_same(projected(outputs_one_by_one(day, E0)), want)


def test_v1_files_hold_every_output_type(day: Path) -> None:
    """The references exercise what they claim to (a projection that dropped a type
    would compare nothing)."""
    types = {orjson.loads(line)["type"] for line in gzip.decompress(
        (V1 / "kafka_test_day.outputs.jsonl.gz").read_bytes()).splitlines()}
    assert types == {"exposure", "breach", "hedge_intent", "risk_matrix"}
    cases = {orjson.loads(line)["type"] for case in CASES
             for line in (V1 / f"{case}.outputs.jsonl").read_bytes().splitlines()}
    assert "rejected" in cases
