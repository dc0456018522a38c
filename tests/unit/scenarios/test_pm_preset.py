"""Tenor-scaled vol shocks and the `pm` preset: `stress --scenarios pm` against a hand
computation (QuantLib for Black-76, the preset's numbers written out here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import QuantLib as ql

from greekstream.cli import main
from greekstream.core.scenarios import Grid, scenario_pnl, tenor_scales
from greekstream.errors import ConfigError
from greekstream.runtime.scenario_files import load
from tests.unit.builders import index, option, perp, quote_mark, quote_opt, trade
from tests.unit.scenarios.slices import f64, make, options

pytestmark = pytest.mark.timeout(60)

# The preset, written out by hand (not read from data/pm.yaml)
PRICES = (-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16)
VOLS = (-0.125, 0.0, 0.25)
EXTENDED = (-0.66, -0.33, 0.50, 1.00, 2.00, 3.00, 4.00, 5.00)
W_UP, W_DOWN = 0.30, 0.13


def test_tenor_scale_by_hand() -> None:
    # (30/7)^0.30 = exp(0.30 · ln 4.285714) = exp(0.436586) = 1.547416
    up, down = tenor_scales(f64(7 / 365, 30 / 365, 180 / 365, 1 / 24 / 365), (W_UP, W_DOWN))
    assert up[0] == pytest.approx(1.547416, abs=1e-6)
    assert down[0] == pytest.approx(math.exp(0.13 * math.log(30 / 7)), rel=1e-12)
    assert (up[1], down[1]) == (1.0, 1.0)  # the 30-day option takes v as is
    assert up[2] == pytest.approx((30 / 180) ** 0.30, rel=1e-12)  # 0.5840: longer moves less
    assert up[3] == pytest.approx(30 ** 0.30, rel=1e-12)  # an hour to expiry counts as a day


def test_a_tenor_scaled_grid_moves_short_options_more() -> None:
    """v = +0.10 on a 7-day and a 90-day ATM call: the 7-day vol rises by 0.10·1.547,
    the 90-day one by 0.10·(30/90)^0.3 = 0.0719; v = −0.10 uses the down power."""
    s = make(opts=options([1.0, 1.0], [60_000.0] * 2, [60_000.0] * 2, [0.5, 0.5],
                          [7 / 365, 90 / 365], [True, True]))
    grid = Grid.product([0.0], [-0.10, 0.10], tenor_power=(W_UP, W_DOWN))
    got = scenario_pnl(s, grid)
    for j, v in enumerate((-0.10, 0.10)):
        w = W_UP if v > 0 else W_DOWN
        want = sum(_black(60_000, 60_000, 0.5 + v * (30 / dte) ** w, dte / 365, True)
                   - _black(60_000, 60_000, 0.5, dte / 365, True) for dte in (7, 90))
        assert got[j] == pytest.approx(want, rel=1e-9)
    week = make(opts=options([1.0], [60_000.0], [60_000.0], [0.5], [7 / 365], [True]))
    flat = scenario_pnl(week, Grid.product([0.0], [0.10]))[0]
    assert scenario_pnl(week, grid)[1] > 1.5 * flat  # the short end moves ~1.55x as much


def _black(f: float, k: float, vol: float, years: float, call: bool) -> float:
    kind = ql.Option.Call if call else ql.Option.Put
    calc = ql.BlackCalculator(ql.PlainVanillaPayoff(kind, k), f, vol * math.sqrt(years), 1.0)
    return float(calc.value())


AS_OF = 3_600.0  # 2026-03-01T01:00:00Z
BOOK = {  # iid: (strike, kind, settlement, expiry, days to expiry at AS_OF, size, q, vol)
    "C7": (62_000.0, "call", "inverse", "2026-03-08T01:00:00Z", 7.0, 1.0, -30.0, 0.58),
    "P30": (55_000.0, "put", "linear", "2026-03-31T01:00:00Z", 30.0, 0.1, 200.0, 0.66),
    "C180": (80_000.0, "call", "linear", "2026-08-28T01:00:00Z", 180.0, 1.0, 12.0, 0.61),
    "P2": (58_000.0, "put", "inverse", "2026-03-03T01:00:00Z", 2.0, 1.0, -15.0, 0.75),
}
FWD = 60_300.0
PERP_N, PERP_MARK = 9_000.0, 60_050.0  # inverse perpetual, 10 USD contracts


def _events() -> list[bytes]:
    out = [perp("BTC-PERPETUAL", "inverse", 10.0)]
    for iid, (k, kind, settle, expiry, _dte, size, _q, _vol) in BOOK.items():
        out.append(option(iid, k, kind, settle, expiry=expiry, size=size))
    out.append(index("i1", 10, 60_000.0))
    for n, (iid, (*_x, vol)) in enumerate(BOOK.items()):
        out.append(quote_opt(f"q{n}", 20, iid, FWD, vol))
    out.append(quote_mark("qp", 20, "BTC-PERPETUAL", PERP_MARK))
    for n, (iid, (*_x, q, _vol)) in enumerate(BOOK.items()):
        out.append(trade(f"t{n}", 30, iid, "buy" if q > 0 else "sell", abs(q)))
    out.append(trade("tp", 31, "BTC-PERPETUAL", "buy", PERP_N))
    out.append(index("i2", AS_OF, 60_000.0))
    return out


def _hand_pnl(p: float, v: float) -> float:
    """Every position revalued by hand: F' = F(1+p), σ' = max(σ + v·(30/DTE)^w, 0.01)."""
    total = PERP_N * 10.0 * (1 / PERP_MARK - 1 / (PERP_MARK * (1 + p))) * PERP_MARK * (1 + p)
    for k, kind, _settle, _expiry, dte, size, q, vol in BOOK.values():
        w = W_UP if v > 0 else W_DOWN
        shocked_vol = max(vol + v * (30.0 / dte) ** w, 0.01)
        years = dte / 365.0
        call = kind == "call"
        total += q * size * (_black(FWD * (1 + p), k, shocked_vol, years, call)
                             - _black(FWD, k, vol, years, call))
    return total


def test_stress_pm_reproduces_the_hand_computation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(_events()) + b"\n")
    capsys.readouterr()
    assert main(["stress", str(events), "--scenarios", "pm"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    cells = [(p, v) for p in PRICES for v in VOLS] + [(p, 0.25) for p in EXTENDED]
    got = [(s["price_shock"], s["vol_shock"]) for s in row["scenarios"]]
    assert got == cells  # 27 grid cells, then the 8 extended ones (vol up only)
    for s in row["scenarios"]:
        want = _hand_pnl(s["price_shock"], s["vol_shock"])
        assert s["pnl"] == pytest.approx(want, rel=1e-9, abs=1e-6), s
    losses = [-_hand_pnl(p, v) for p, v in cells]
    assert row["worst_loss"] == pytest.approx(max(0.0, *losses), rel=1e-9)
    # the table prints the extended moves as extra columns of the vol-up row
    capsys.readouterr()
    assert main(["stress", str(events), "--scenarios", "pm", "--format", "table"]) == 0
    text = capsys.readouterr().out
    assert "+500%" in text and "-66%" in text


def test_tenor_power_in_a_file_and_its_errors(tmp_path: Path) -> None:
    f = tmp_path / "g.yaml"
    f.write_text("price_shocks: [-0.1, 0.1]\nvol_shocks: [-0.1, 0.2]\n"
                 "tenor_power: {up: 0.3, down: 0.13}\n"
                 "extended: [{price_shock: -0.5, vol_shock: 0.2}]\n")
    grid = load(f).grid_for("BTC")
    assert grid.tenor_power == (0.3, 0.13)
    assert len(grid) == 5 and grid.scenario(4).price_shock == -0.5
    f.write_text("price_shocks: [-0.1]\ntenor_power: {up: -1, down: 0.1}\n")
    with pytest.raises(ConfigError, match=r"tenor_power\.up"):
        load(f)
    f.write_text("price_shocks: [-0.1]\ntenor_power: {up: 0.3}\n")
    with pytest.raises(ConfigError, match=r"tenor_power\.down"):
        load(f)
