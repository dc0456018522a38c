"""`greekstream stress` end to end on a small events file, against an independent
reference of SPEC's table (QuantLib for the options, Brent for the liquidation moves)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import orjson
import pytest
import QuantLib as ql
from scipy.optimize import brentq

from greekstream.cli import main
from greekstream.core.timeutil import parse_ts
from tests.unit.builders import EXPIRY, index, option, perp, quote_mark, quote_opt, rec, trade

pytestmark = pytest.mark.timeout(60)

AS_OF = 3_600.0  # seconds after T0: every event below is at or before it
FUT_EXPIRY = "2026-06-26T08:00:00Z"


def _events() -> list[bytes]:
    return [
        option("C60", 60_000.0, "call", "inverse"),
        option("P50", 50_000.0, "put", "linear", size=0.1),
        rec("instrument", "def-FUT", 0, instrument_id="BTC-FUT", kind="future",
            underlying="BTC", settlement="linear", contract_size=0.01, expiry=FUT_EXPIRY),
        perp("BTC-PERPETUAL", "inverse", 10.0),
        perp("BTC-USDT", "linear", 0.001),
        index("i1", 10, 55_000.0),
        quote_opt("q1", 20, "C60", 55_500.0, 0.62),
        quote_opt("q2", 21, "P50", 55_500.0, 0.70),
        quote_mark("q3", 22, "BTC-FUT", 56_000.0),
        quote_mark("q4", 23, "BTC-PERPETUAL", 55_010.0),
        quote_mark("q5", 24, "BTC-USDT", 54_990.0),
        trade("t1", 30, "C60", "sell", 25.0),
        trade("t2", 31, "P50", "buy", 120.0),
        trade("t3", 32, "BTC-FUT", "buy", 300.0),
        trade("t4", 33, "BTC-PERPETUAL", "sell", 20_000.0),
        trade("t5", 34, "BTC-USDT", "buy", 15_000.0),
        trade("t6", 35, "C60", "buy", 4.0, book="desk-b"),
        rec("collateral", "c1", 40, book="desk-a", asset="BTC", amount=6.0),
        rec("margin", "m1", 50, book="desk-a", underlying="BTC", equity=320_000.0,
            maintenance_margin=120_000.0),
        index("i2", AS_OF, 55_000.0),
    ]


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    p = tmp_path / "events.jsonl"
    p.write_bytes(b"\n".join(_events()) + b"\n")
    return p


def _ql(f: float, k: float, vol: float, years: float, call: bool) -> float:
    if years <= 0:
        return max(f - k if call else k - f, 0.0)
    kind = ql.Option.Call if call else ql.Option.Put
    return float(ql.BlackCalculator(ql.PlainVanillaPayoff(kind, k), f, vol * math.sqrt(years),
                                    1.0).value())


def _reference_pnl(p: float, v: float, h: float) -> float:
    """desk-a BTC by SPEC's table, written out leg by leg."""
    years = (parse_ts(EXPIRY) - parse_ts("2026-03-01T01:00:00Z")) / 1e6 / (365 * 86400)
    t1 = years - h / (365 * 24)
    f, f1 = 55_500.0, 55_500.0 * (1 + p)
    call = -25.0 * 1.0 * (_ql(f1, 60_000, max(0.62 + v, 0.01), t1, True)
                          - _ql(f, 60_000, 0.62, years, True))
    put = 120.0 * 0.1 * (_ql(f1, 50_000, max(0.70 + v, 0.01), t1, False)
                         - _ql(f, 50_000, 0.70, years, False))
    fut = 300.0 * 0.01 * (56_000.0 * (1 + p) - 56_000.0)
    m = 55_010.0
    inv = -20_000.0 * 10.0 * (1 / m - 1 / (m * (1 + p))) * m * (1 + p)
    lin = 15_000.0 * 0.001 * (54_990.0 * (1 + p) - 54_990.0)
    coll = 6.0 * (55_000.0 * (1 + p) - 55_000.0)
    return call + put + fut + inv + lin + coll


def _reference_liq(direction: int, steps: int) -> float | None:
    def g(p: float) -> float:
        return 320_000.0 + _reference_pnl(p, 0.0, 0.0) - 120_000.0

    for k in range(1, steps + 1):
        if g(direction * k / 1000) <= 0:
            return float(brentq(g, direction * (k - 1) / 1000, direction * k / 1000, xtol=1e-13))
    return None


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["stress", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_matches_the_independent_reference(
    events_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, str(events_file), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["book"], r["underlying"]) for r in rows] == [("desk-a", "BTC"), ("desk-b", "BTC")]
    a = rows[0]
    assert a["as_of"] == "2026-03-01T01:00:00Z"
    assert len(a["scenarios"]) == 45
    for sc in a["scenarios"]:
        ref = _reference_pnl(sc["price_shock"], sc["vol_shock"], sc["time_shift_h"])
        assert sc["pnl"] == pytest.approx(ref, rel=1e-9, abs=1e-6), sc
    worst = min(a["scenarios"], key=lambda s: s["pnl"])
    assert a["worst_scenario"] == worst
    assert a["worst_loss"] == pytest.approx(max(0.0, -worst["pnl"]))
    down, up = _reference_liq(-1, 990), _reference_liq(1, 10_000)
    assert down is not None and up is not None  # the case exercises both sides
    assert a["liq_move_down"] == pytest.approx(down, rel=1e-6)
    assert a["liq_move_up"] == pytest.approx(up, rel=1e-6)
    assert a["liq_price_down"] == pytest.approx(55_000.0 * (1 + down), rel=1e-6)
    assert a["liq_price_up"] == pytest.approx(55_000.0 * (1 + up), rel=1e-6)
    b = rows[1]  # no margin event for desk-b: no liquidation distance
    assert [b[k] for k in ("liq_move_down", "liq_move_up", "liq_price_down",
                           "liq_price_up")] == [None] * 4


def test_as_of_and_book_filter(events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # As of 00:00:32, only the call and the put trades of desk-a exist, and no margin yet.
    code, out, _ = _run(capsys, str(events_file), "--as-of", "2026-03-01T00:00:32Z",
                        "--book", "desk-a")
    assert code == 0
    (row,) = json.loads(out)
    assert row["as_of"] == "2026-03-01T00:00:32Z"
    assert row["liq_move_down"] is None
    zero = next(s for s in row["scenarios"] if s["price_shock"] == 0 and s["vol_shock"] == 0)
    assert zero["pnl"] == 0.0


def test_table_marks_the_worst_cell(events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(events_file), "--format", "table", "--book", "desk-a")
    assert code == 0
    assert "desk-a BTC" in out and "liquidation: down -" in out
    lines = out.splitlines()
    header = next(ln for ln in lines if ln.startswith("vol \\ price"))
    assert header.split()[3:] == ["-50%", "-30%", "-20%", "-16%", "-12%", "-8%", "-4%", "+0%",
                                  "+4%", "+8%", "+12%", "+16%", "+20%", "+30%", "+50%"]
    starred = [ln for ln in lines if "*" in ln and ln.startswith("vol ")]
    assert len(starred) == 1


def test_named_scenarios_from_the_library(
    events_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The library names ETH too and this file knows only BTC: a shipped preset names the
    # market's usual underlyings, so its BTC scenarios apply and the ETH ones do not (it
    # was a refusal: a BTC-only desk could not use the library, and `demo --events` of
    # such a file stopped there with its store written). A desk's own file naming an
    # underlying the events lack is still refused (a typo; test_scenario_files.py).
    from greekstream.runtime.scenario_files import LIBRARY_PATH, load

    library = load(LIBRARY_PATH)
    assert library.preset and "ETH" in library.underlyings()
    for preset in (str(LIBRARY_PATH), "library"):
        code, out, err = _run(capsys, str(events_file), "--scenarios", preset)
        assert code == 0, err
        rows = json.loads(out)
        assert {r["underlying"] for r in rows} == {"BTC", "ALL"}
        named = {s.get("name") for r in rows if r["underlying"] == "BTC"
                 for s in r["scenarios"]} - {None}
        btc = {ns.name for ns in library.named if {"BTC", "default"} & set(ns.shocks)}
        assert named == btc and len(btc) >= 3
    copy = LIBRARY_PATH.read_bytes()
    mine = events_file.parent / "my_library.yaml"
    mine.write_bytes(copy)  # the same scenarios in a desk's own file: ETH is unknown
    code, out, err = _run(capsys, str(events_file), "--scenarios", str(mine))
    assert code == 2 and out == "" and "unknown underlying 'ETH'" in err


def test_named_scenario_pnl(events_file: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("grids:\n  BTC: {price_shocks: [-0.1]}\nscenarios:\n  - name: crash\n"
                 "    shocks: {BTC: {price_shock: -0.39, vol_shock: 0.6, time_shift_h: 24}}\n")
    code, out, _ = _run(capsys, str(events_file), "--scenarios", str(f), "--book", "desk-a")
    assert code == 0
    row, total = json.loads(out)
    assert [s.get("name") for s in row["scenarios"]] == [None, "crash"]
    assert row["scenarios"][1]["pnl"] == pytest.approx(_reference_pnl(-0.39, 0.6, 24.0),
                                                       rel=1e-9)
    # the book's total over its underlyings (one here) follows its rows
    assert (total["book"], total["underlying"]) == ("desk-a", "ALL")
    assert total["scenarios"] == [{"name": "crash", "pnl": row["scenarios"][1]["pnl"],
                                   "by_underlying": {"BTC": row["scenarios"][1]["pnl"]}}]


def test_png_heatmap_is_written(events_file: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out_png = tmp_path / "risk.png"
    code, out, _ = _run(capsys, str(events_file), "--format", "png", "--out", str(out_png))
    assert code == 0 and out.strip() == str(out_png)
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("extra", "needle"), [
    (["--book", "desk-z"], "unknown book 'desk-z'"),
    (["--as-of", "yesterday"], "bad --as-of"),
    (["--scenarios", "/nonexistent/grid.yaml"], "no such scenario file"),
])
def test_bad_input_is_a_clear_error_and_no_output(
    events_file: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    code, out, err = _run(capsys, str(events_file), *extra)
    assert code == 2 and out == ""
    assert needle in err and "Traceback" not in err


def test_bad_scenario_file_writes_nothing(events_file: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"price_shocks": [-0.2, -1.0]}))
    target = tmp_path / "out.json"
    code, out, err = _run(capsys, str(events_file), "--scenarios", str(bad), "--out", str(target))
    assert code == 2 and out == "" and not target.exists()
    assert "-100%" in err


def test_table_prints_non_finite_pnl_as_na() -> None:
    # round() of NaN or inf raised (a ValueError/OverflowError traceback for the table)
    import numpy as np

    from greekstream.commands.stress import table_text
    from greekstream.core.scenarios import BookScenarioRisk, Grid, RiskMatrix, Scenario

    grid = Grid.of([Scenario(-0.1), Scenario(0.1), Scenario(-0.5, 0.2, 0.0, "crash")])
    pnl = np.array([float("nan"), float("inf"), float("-inf")])
    m = RiskMatrix("desk-a", "BTC", 0, grid, pnl, float("inf"), 2)
    text = table_text([BookScenarioRisk(m, None, None)], 0)
    assert "worst loss n/a USD" in text
    assert text.count("n/a") >= 4  # the index, the two cells, the named scenario
    assert "nan" not in text and "inf" not in text


def test_png_out_with_another_suffix_is_still_a_png(
        events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "risk.xyz"  # matplotlib: ValueError Format 'xyz' is not supported
    code, out, err = _run(capsys, str(events_file), "--format", "png", "--out", str(out_file))
    assert (code, out.strip(), err) == (0, str(out_file), "")
    assert out_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_out_in_a_missing_directory_is_a_usage_error(
        events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing" / "risk.png"
    code, out, err = _run(capsys, str(events_file), "--format", "png", "--out", str(target))
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"cannot write {target}: No such file or directory" in err
    assert "hint: --out is the PNG file to write" in err
    assert not target.parent.exists()
