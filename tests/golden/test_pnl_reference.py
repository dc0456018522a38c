"""`greekstream replay --format json` P&L against the independent reference
(tests/reference/model.py: SPEC.md's cost basis written again, QuantLib for option values).

Seeded desk days with every instrument type (linear and inverse options, one expiring
mid-stream, linear and inverse futures, one expiring mid-stream, perpetuals, spot),
trades at market-like prices with fees, perpetual funding, duplicates and bad records,
queried as of several times (before, at and after the expiries). Tolerance: 1e-6
relative, with a floor of 1e-9 × the sum of the absolute amounts behind the number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from greekstream.cli import main
from tests.reference.cases import write_case
from tests.reference.model import PNL_FIELDS, exposures, to_micros

pytestmark = pytest.mark.timeout(300)

SEEDS = range(1, 7)


def replay_json(capsys: pytest.CaptureFixture[str], path: Path,
                as_of: str | None) -> list[dict[str, Any]]:
    argv = ["replay", str(path), "--format", "json", "--quiet"]
    argv += ["--as-of", as_of] if as_of else []
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def near(got: float, want: float, floor: float) -> bool:
    return abs(got - want) <= 1e-6 * max(abs(got), abs(want)) + floor


@pytest.mark.parametrize("seed", SEEDS)
def test_replay_pnl_matches_the_reference(seed: int, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    case = write_case(tmp_path, seed, pnl=True)
    text = case.path.read_text()
    assert '"type":"funding"' in text and '"fee":' in text
    problems = []
    checked = 0
    for as_of in case.as_of:
        got = replay_json(capsys, case.path, as_of)
        rows, _ = exposures(case.path, None if as_of is None else to_micros(as_of))
        assert [(r["book"], r["underlying"]) for r in got] == [(r.book, r.underlying)
                                                               for r in rows]
        for g, w in zip(got, rows, strict=True):
            floor = 1e-9 * w.pnl_scale
            for name in PNL_FIELDS:
                checked += 1
                if not near(g["pnl"][name], w.pnl[name], floor):
                    problems.append(f"{as_of} {w.book}/{w.underlying} {name}: "
                                    f"{g['pnl'][name]!r} != {w.pnl[name]!r}")
            if not near(g["funding_usd_per_day"], w.funding_usd_per_day, floor):
                problems.append(f"{as_of} {w.book}/{w.underlying} funding_usd_per_day: "
                                f"{g['funding_usd_per_day']!r} != {w.funding_usd_per_day!r}")
    assert not problems, "\n".join(problems[:20])
    assert checked > 50


def test_the_cases_exercise_every_part_of_the_pnl(tmp_path: Path) -> None:
    """Not vacuous: realized, unrealized, fees and funding are all non-zero somewhere,
    and an expired option and future are still held at the last query."""
    case = write_case(tmp_path, 3, pnl=True)
    rows, done = exposures(case.path)
    totals = {name: sum(abs(r.pnl[name]) for r in rows) for name in PNL_FIELDS}
    assert all(v > 0 for v in totals.values()), totals
    s = done.state
    kinds = {(s.instruments[iid]["kind"], s.instruments[iid]["settlement"])
             for (_, iid), lot in s.lots.items()}
    assert kinds >= {("option", "linear"), ("option", "inverse"), ("future", "linear"),
                     ("perpetual", "linear"), ("perpetual", "inverse"), ("spot", "linear")}
