"""Scenario files: the shapes that load, the shipped library, and every bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.core.scenarios import DEFAULT_GRID, Scenario
from greekstream.errors import ConfigError
from greekstream.runtime.scenario_files import LIBRARY_PATH, load

pytestmark = pytest.mark.timeout(30)


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bare_json_grid_applies_to_every_underlying(tmp_path: Path) -> None:
    p = _write(tmp_path, '{"price_shocks": [-0.1, 0.1], "vol_shocks": [0, 0.2], '
                         '"time_shift_h": [0, 24]}', "g.json")
    grid = load(p).grid_for("ETH")
    assert len(grid) == 8
    assert grid.scenario(0) == Scenario(-0.1, 0.0, 0.0)
    assert grid.scenario(7) == Scenario(0.1, 0.2, 24.0)


def test_vol_and_time_default_to_zero(tmp_path: Path) -> None:
    grid = load(_write(tmp_path, "price_shocks: [-0.2, 0.2]\n")).grid_for("BTC")
    assert grid.scenarios() == [Scenario(-0.2), Scenario(0.2)]


def test_grids_per_underlying_with_default(tmp_path: Path) -> None:
    text = """
grids:
  default: {price_shocks: [-0.1]}
  ETH: {price_shocks: [-0.3, 0.3], vol_shocks: [0.1]}
"""
    cfg = load(_write(tmp_path, text))
    assert [s.price_shock for s in cfg.grid_for("ETH").scenarios()] == [-0.3, 0.3]
    assert [s.price_shock for s in cfg.grid_for("BTC").scenarios()] == [-0.1]
    cfg.check_underlyings({"BTC", "ETH"})


def test_named_scenarios_follow_the_default_grid(tmp_path: Path) -> None:
    text = """
scenarios:
  - name: crash
    shocks:
      BTC: {price_shock: -0.4, vol_shock: 0.5, time_shift_h: 24}
      default: {price_shock: -0.5}
"""
    cfg = load(_write(tmp_path, text))
    btc = cfg.grid_for("BTC")
    assert len(btc) == len(DEFAULT_GRID) + 1
    assert btc.scenario(len(DEFAULT_GRID)) == Scenario(-0.4, 0.5, 24.0, "crash")
    assert cfg.grid_for("SOL").scenario(len(DEFAULT_GRID)) == Scenario(-0.5, 0.0, 0.0, "crash")


def test_the_shipped_library_loads_and_documents_every_scenario() -> None:
    cfg = load(LIBRARY_PATH)
    names = {ns.name for ns in cfg.named}
    assert {"march-2020-close", "may-2021-drawdown", "nov-2022-ftx", "event-vol-crush",
            "joint-down-3sd"} <= names
    for ns in cfg.named:
        assert ns.description and ns.source, ns.name
    shocks = {ns.name: ns.shocks for ns in cfg.named}
    assert shocks["may-2021-drawdown"]["BTC"].price_shock == -0.30
    assert shocks["nov-2022-ftx"]["ETH"].price_shock == -0.27
    assert cfg.underlyings() == {"BTC", "ETH", "USDC", "USDT", "DAI"}
    assert {"june-2022-deleveraging", "march-2023-usdc-depeg", "stablecoin-depeg-2pct",
            "stablecoin-depeg-5pct", "stablecoin-depeg-10pct"} <= names
    june = shocks["june-2022-deleveraging"]  # the compact joint form
    assert (june["BTC"].price_shock, june["ETH"].price_shock) == (-0.40, -0.47)
    assert june["BTC"].vol_shock == june["ETH"].vol_shock == 0.35
    assert june["ETH"].time_shift_h == 192.0
    # stablecoins: no grid, only the scenarios that name them (a `default` never applies)
    usdc = cfg.grid_for("USDC")
    assert usdc.names == ("march-2023-usdc-depeg", "stablecoin-depeg-2pct",
                          "stablecoin-depeg-5pct", "stablecoin-depeg-10pct")
    assert usdc.price_shock.tolist() == [-0.12, -0.02, -0.05, -0.10]
    assert len(cfg.grid_for("USD")) == 0
    assert "stablecoin-depeg-2pct" not in cfg.grid_for("BTC").names
    # a library naming stablecoins (and BTC, ETH) checks only the non-stable ones
    cfg.check_underlyings({"BTC", "ETH"})


@pytest.mark.parametrize(("text", "needle"), [
    ("price_shocks: [-0.1, 0.1\n", "does not parse"),
    ("{not json", "does not parse"),
    ("price_shocks: [-1.0, 0.1]\n", "-100%"),
    ("price_shocks: [-1.5]\n", "-100%"),
    ("price_shocks: []\n", "price_shocks"),
    ("price_shocks: [0.1]\nvol_shocks: []\n", "vol_shocks"),
    ("price_shocks: [0.1]\ntime_shift_h: [-5]\n", "time_shift_h"),
    ("price_shocks: [.nan]\n", "price_shocks"),
    ("price_shocks: [0.1]\nvol_shock: [0.2]\n", "vol_shock"),
    ("grids: {}\nscenarios: []\n", "empty"),
    ("- 1\n- 2\n", "must be a mapping"),
    ("", "must be a mapping"),
    ("scenarios:\n  - name: x\n    shocks: {BTC: {price_shock: -1}}\n", "-100%"),
    ("scenarios:\n  - name: x\n    shocks: {}\n", "shocks"),
    ("scenarios:\n  - {name: a, shocks: {BTC: {price_shock: 0.1}}}\n"
     "  - {name: a, shocks: {BTC: {price_shock: 0.2}}}\n", "repeat"),
    ("grids:\n  BTC: {price_shocks: [abc]}\n", "grids.BTC.price_shocks"),
])
def test_bad_files_are_config_errors_naming_the_problem(
    tmp_path: Path, text: str, needle: str
) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(p)
    assert needle in str(err.value)
    assert str(p) in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such scenario file"):
        load(tmp_path / "nope.yaml")


def test_unknown_underlying_is_named(tmp_path: Path) -> None:
    text = "grids:\n  DOGE: {price_shocks: [0.1]}\n  default: {price_shocks: [0.2]}\n"
    cfg = load(_write(tmp_path, text))
    with pytest.raises(ConfigError, match="unknown underlying 'DOGE'") as err:
        cfg.check_underlyings({"BTC", "ETH"})
    assert err.value.hint is not None and "BTC, ETH" in err.value.hint
