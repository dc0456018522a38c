"""`greekstream replay` against an independent reference (tests/reference/model.py).

The reference is written from SPEC.md alone (plain Python, QuantLib's BlackCalculator),
never from the engine's modules; it replays every query from scratch.

Golden cases (tests/golden/cases/*.jsonl, expected JSON from the reference, reviewed by
hand; regenerate with `python -m tests.reference.cases` and read the diff). Checked by
hand with math.erf (see also test_golden_numbers_by_hand below):

- linear_call: as of 18:00, expiry 1 Jun 00:00 is 91.25 days away, so T = 0.25 and
  σ√T = 0.5·0.5 = 0.25; at the money (F = K = 60000) d1 = σ√T/2 = 0.125. desk-a holds
  q = 10 × 0.1 = 1 coin: delta = N(0.125) = 0.549738224830, gamma = φ(0.125)/(60000 ×
  0.25) = 2.63891791e-5, vega = 60000·φ·0.5/100 = 118.751306, theta = −60000·φ·0.5/
  (2·0.5)/365 = −32.534604; delta_usd = 0.549738 × 60500 = 33259.1626. desk-b sold 20,
  q = −2: every Greek × −2.
- inverse_put: as of 18:00 (the last line, at 23:00, names an unknown instrument: it
  is rejected and does not move the default as-of). σ√T = 0.8·0.5 = 0.4, d1 = 0.2; at
  the money the put is worth V = F(2N(0.2) − 1), so the net transaction delta per coin
  is (N(0.2) − 1) − V/F = −N(0.2). Short 5 (the second t1 is a duplicate):
  delta = 5·N(0.2) = 2.896298547, delta_equity = delta + 3 BTC of collateral,
  theta = +5·50000·φ(0.2)·0.8/(2·0.5)/365 = 214.269969. At 12:10 the put has no quote
  yet: zero Greeks, 1 position.
- perps_futures_spot: inverse perp 1000 × 10 USD / 40000 = 0.25 BTC, linear future
  −50 × 0.01 = −0.5, spot +0.75, the 1 Mar 08:00 future is settled: delta 0.5,
  positions 3, delta_usd 0.5 × 41000 = 20500.
- collateral_reorg: 1.5 BTC of perps; collateral 2 (its duplicate ignored) + 1.5
  (block 100) + 4 (arbitrum, untouched by the ethereum reorg) + 0.25 (block 105,
  retracted, then mined again in block 106 with the same id) = 7.75, the −0.5 of block
  107 retracted: delta_equity = 9.25 (8.75 before the reorg). The ETH row appears only
  once an ETH index makes ETH a known underlying; USDC never does.

Tolerances: golden cases 1e-9 relative with a 1e-12 absolute floor; random cases
1e-9 relative plus 1e-12 × the sum of the absolute contributions to the number (a
row whose positions net out to about zero cannot be held to a relative bound).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from greekstream.cli import main
from tests.reference.cases import GOLDEN_AS_OF, GOLDEN_DIR, expected_document, write_case
from tests.reference.model import METRICS, Row, exposures, to_micros

pytestmark = pytest.mark.timeout(120)

FIELDS = (*METRICS, "delta_usd")
SEEDS = range(1, 25)


def replay_json(capsys: pytest.CaptureFixture[str], path: Path, as_of: str | None = None,
                out: Path | None = None) -> list[dict[str, Any]]:
    argv = ["replay", str(path), "--format", "json", "--quiet"]
    argv += ["--as-of", as_of] if as_of else []
    argv += ["--out", str(out)] if out else []
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def close(got: float | None, want: float | None, floor: float) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return abs(got - want) <= 1e-9 * max(abs(got), abs(want)) + floor


def mismatches(got: list[dict[str, Any]], want: list[dict[str, Any]],
               floors: list[dict[str, float]]) -> list[str]:
    keys = [(r["book"], r["underlying"]) for r in got]
    wanted = [(r["book"], r["underlying"]) for r in want]
    if keys != wanted:
        return [f"rows {keys} != {wanted}"]
    problems = []
    for g, w, floor in zip(got, want, floors, strict=True):
        where = f"{w['book']}/{w['underlying']}"
        if g["positions"] != w["positions"]:
            problems.append(f"{where} positions {g['positions']} != {w['positions']}")
        problems += [f"{where} {m} {g[m]!r} != {w[m]!r}" for m in FIELDS
                     if not close(g[m], w[m], floor[m])]
    return problems


# --------------------------------------------------------------------------- golden cases


@pytest.mark.parametrize("name", sorted(GOLDEN_AS_OF))
def test_golden_case(capsys: pytest.CaptureFixture[str], name: str) -> None:
    expected = json.loads((GOLDEN_DIR / f"{name}.expected.json").read_text())
    for query in expected["queries"]:
        got = replay_json(capsys, GOLDEN_DIR / f"{name}.jsonl", query["as_of"])
        want = query["exposures"]
        floors = [dict.fromkeys(FIELDS, 1e-12) for _ in want]
        assert mismatches(got, want, floors) == [], f"{name} as of {query['as_of']}"


@pytest.mark.parametrize("name", sorted(GOLDEN_AS_OF))
def test_reference_reproduces_golden(name: str) -> None:
    """The checked-in expectations are what the reference computes (no hand edits drift)."""
    stored = json.loads((GOLDEN_DIR / f"{name}.expected.json").read_text())
    fresh = expected_document(GOLDEN_DIR / f"{name}.jsonl", GOLDEN_AS_OF[name])
    assert fresh == stored


def _n(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _phi(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def test_golden_numbers_by_hand() -> None:
    """The hand checks of the module docstring, in closed form without QuantLib."""
    def row(name: str, query: int = 0, at: int = 0) -> dict[str, Any]:
        doc = json.loads((GOLDEN_DIR / f"{name}.expected.json").read_text())
        return doc["queries"][query]["exposures"][at]

    call = row("linear_call")
    assert call["delta"] == pytest.approx(_n(0.125), rel=1e-12)
    assert call["gamma"] == pytest.approx(_phi(0.125) / 15000, rel=1e-12)
    assert call["vega"] == pytest.approx(300 * _phi(0.125), rel=1e-12)
    assert call["theta"] == pytest.approx(-30000 * _phi(0.125) / 365, rel=1e-12)
    assert row("linear_call", at=1)["delta"] == pytest.approx(-2 * _n(0.125), rel=1e-12)
    put = row("inverse_put")
    assert put["delta"] == pytest.approx(5 * _n(0.2), rel=1e-12)
    assert put["delta_equity"] == pytest.approx(5 * _n(0.2) + 3, rel=1e-12)
    assert put["theta"] == pytest.approx(5 * 40000 * _phi(0.2) / 365, rel=1e-12)
    assert (row("perps_futures_spot")["delta"], row("perps_futures_spot")["positions"]) == (
        0.5, 3)
    assert row("collateral_reorg")["delta_equity"] == 9.25
    assert row("collateral_reorg", query=1)["delta_equity"] == 8.75


# --------------------------------------------------------------------------- random cases


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replay-cases")


def _floors(rows: list[Row]) -> list[dict[str, float]]:
    return [{m: 1e-12 * (1 + r.scale[m]) for m in FIELDS} for r in rows]


@pytest.mark.parametrize("seed", SEEDS)
def test_random_case_matches_reference(capsys: pytest.CaptureFixture[str], case_dir: Path,
                                       seed: int) -> None:
    case = write_case(case_dir, seed)
    for as_of in case.as_of:
        rows, _ = exposures(case.path, None if as_of is None else to_micros(as_of))
        got = replay_json(capsys, case.path, as_of)
        want = [r.as_dict() for r in rows]
        assert mismatches(got, want, _floors(rows)) == [], f"seed {seed} as of {as_of}"


@pytest.mark.parametrize("seed", SEEDS[:8])
def test_rejected_lists_each_bad_record(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        case_dir: Path, seed: int) -> None:
    case = write_case(case_dir, seed)
    replay_json(capsys, case.path, out=tmp_path)
    lines = (tmp_path / "rejected.jsonl").read_text().splitlines()
    got = {json.loads(line)["source"]: json.loads(line)["reason"] for line in lines}
    want = {f"{case.path.name}:{n}": reason for n, reason in case.bad_lines.items()}
    assert len(lines) == len(got) == len(want) >= 7
    assert got == want
    _, done = exposures(case.path)
    assert {f"{case.path.name}:{n}" for n, _ in done.rejected} == set(want)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_replay_twice_gives_identical_files(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path, case_dir: Path, seed: int) -> None:
    case = write_case(case_dir, seed)
    first = replay_json(capsys, case.path, out=tmp_path / "a")
    second = replay_json(capsys, case.path, out=tmp_path / "b")
    assert first == second
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert {"exposures.jsonl", "rejected.jsonl"} <= set(names)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "exposures.jsonl").stat().st_size > 0
