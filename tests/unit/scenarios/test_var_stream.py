"""The streamed `var` output: one per book every var_interval_s of event time when a
returns file is configured, equal to `greekstream var --as-of` its ts (stream = replay),
through a snapshot and restore too."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.commands.var import json_rows, var_reports
from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import VarEvent
from greekstream.core.timeutil import format_ts
from greekstream.runtime.replay import read_records, replay
from greekstream.runtime.returns_file import parse_returns
from greekstream.runtime.scenario_files import engine_config
from tests.unit.builders import index, quote_mark
from tests.unit.scenarios.test_var import desk_events, returns_csv

pytestmark = pytest.mark.timeout(120)
HOUR = 3_600.0


def hours_of_market(n: int) -> list[bytes]:
    """desk_events, then n hours of index and perpetual marks every 20 minutes."""
    out = desk_events()
    for k in range(1, 3 * n + 1):
        at = HOUR + k * 1_200.0
        move = 1.0 + 0.004 * ((k % 7) - 3)
        # the BTC index last: the tick at a boundary sees this moment's whole state
        out.append(index(f"ie{k}", at - 1.0, 2_100.0 * move, "ETH"))
        out.append(quote_mark(f"qp{k}", at - 0.5, "BTC-PERPETUAL", 62_060.0 * move))
        out.append(index(f"ib{k}", at, 62_050.0 * move))
    return out


def test_stream_equals_replay_as_of(tmp_path: Path) -> None:
    returns_path = tmp_path / "r.csv"
    returns_path.write_text(returns_csv(60))
    returns = parse_returns(returns_path.read_text())
    config = engine_config(None, None, str(returns_path))
    assert config.returns is not None and config.var_interval_s == 3600.0
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(hours_of_market(4)) + b"\n")
    outputs = replay(read_records(events), config=config).outputs
    streamed = [o for o in outputs if isinstance(o, VarEvent)]
    ticks = sorted({o.ts for o in streamed})
    assert len(ticks) == 5  # 01:00 .. 05:00 (the first market event only sets the clock)
    assert all(t % 3_600_000_000 == 0 for t in ticks)  # aligned to the hour: first event at it
    for ts in ticks:
        at = [o for o in streamed if o.ts == ts]
        assert [o.book for o in at] == ["desk-a", "desk-b", "treasury"]
        again = replay(read_records(events), as_of_us=ts)
        assert again.as_of_us == ts
        want = json_rows(var_reports(again.engine, ts, returns, 0.99))
        for o, w in zip(at, want, strict=True):
            assert (o.book, format_ts(o.as_of), o.confidence, o.scenarios, o.var, o.es,
                    o.worst_date) == (w["book"], w["as_of"], w["confidence"], w["scenarios"],
                                      w["var"], w["es"], w["worst_date"])
            assert o.unshocked == [] and len(o.pnl) == 60
            assert o.worst_pnl == min(o.pnl) <= -o.var


def test_no_returns_file_no_var_and_restore_keeps_the_clock(tmp_path: Path) -> None:
    records = [(r, f"e:{i}") for i, r in enumerate(hours_of_market(3))]
    plain = replay(records)
    assert not [o for o in plain.outputs if isinstance(o, VarEvent)]
    config = EngineConfig(returns=parse_returns(returns_csv(30, vol=False)),
                          var_interval_s=1_800.0, var_confidence=0.9)
    whole = [o for o in replay(records, config=config).outputs if isinstance(o, VarEvent)]
    assert whole and {o.confidence for o in whole} == {0.9}
    cut = len(records) // 2
    first = Engine(config)
    outputs = [o for raw, src in records[:cut] for o in first.handle(raw, src)]
    second = Engine(config)
    second.restore(first.snapshot())
    outputs += [o for raw, src in records[cut:] for o in second.handle(raw, src)]
    assert [o for o in outputs if isinstance(o, VarEvent)] == whole


def test_an_uncovered_underlying_is_named_not_an_error(tmp_path: Path) -> None:
    config = EngineConfig(returns=parse_returns("date,BTC\n2026-01-01,-0.05\n2026-01-02,0.01\n"))
    records = [(r, f"e:{i}") for i, r in enumerate(hours_of_market(2))]
    var = [o for o in replay(records, config=config).outputs if isinstance(o, VarEvent)]
    assert var
    by_book = {o.book: o for o in var}
    assert by_book["desk-a"].unshocked == ["ETH"]
