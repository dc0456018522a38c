"""Scenario files: the shapes that load, the shipped library, and every bad file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from greekstream.core.scenarios import DEFAULT_GRID, Grid, Scenario
from greekstream.errors import ConfigError
from greekstream.runtime import scenario_files
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
    # bounds: +1000 % at most, |vol shock| <= 5, a shift of ten years at most
    ("price_shocks: [0.1, 10.5]\n", "price_shocks.1: Value error, price shock 10.5 is above"),
    ('{"price_shocks": [1e300]}', "price_shocks.0"),
    ("price_shocks: [0.1]\nvol_shocks: [0, 5.5]\n", "vol_shocks.1"),
    ("price_shocks: [0.1]\nvol_shocks: [-6]\n", "vol_shocks.0"),
    ("price_shocks: [0.1]\ntime_shift_h: [87601]\n", "time_shift_h.0"),
    ("scenarios:\n  - {name: x, shocks: {BTC: {price_shock: 11}}}\n",
     "scenarios.0.shocks.BTC.price_shock"),
    ("scenarios:\n  - {name: x, shocks: {BTC: {price_shock: 0.1, vol_shock: 9}}}\n",
     "scenarios.0.shocks.BTC.vol_shock"),
    ("scenarios:\n  - {name: x, shocks: {BTC: -0.1, time_shift_h: 1e6}}\n",
     "scenarios.0.shocks.BTC.time_shift_h"),
    ("price_shocks: [0.1]\nextended: [{price_shock: 20}]\n", "extended.0.price_shock"),
    # strict numbers: true/false and text are refused, not read as 1.0 and 0.1
    ('{"price_shocks": [true]}', "price_shocks.0: Value error, true is not a number"),
    ('{"price_shocks": ["0.1"]}', "price_shocks.0: Value error, '0.1' is text"),
    ('{"price_shocks": [0.1], "vol_shocks": [false]}', "vol_shocks.0"),
    ('{"price_shocks": [0.1], "time_shift_h": ["24"]}', "time_shift_h.0"),
    ("price_shocks: [0.1]\ntenor_power: {up: true, down: 0.1}\n", "tenor_power.up"),
    ("scenarios:\n  - {name: x, shocks: {BTC: {price_shock: '-0.1'}}}\n",
     "scenarios.0.shocks.BTC.price_shock"),
    ("scenarios:\n  - {name: x, shocks: {BTC: -0.1, vol: '0.2'}}\n",
     "scenarios.0.shocks.BTC.vol_shock"),
    # nested past the parser's recursion: a ConfigError, not a RecursionError
    ("[" * 1000 + "]" * 1000, "nested too deeply"),
    ("{a: " * 1000 + "1" + "}" * 1000, "nested too deeply"),
    ("price_shocks:\n" + "".join(" " * i + "- \n" for i in range(1, 1000)),
     "nested too deeply"),
])
def test_bad_files_are_config_errors_naming_the_problem(
    tmp_path: Path, text: str, needle: str
) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(p)
    assert needle in str(err.value)
    assert str(p) in str(err.value)


def test_the_bounds_themselves_load_and_json_exponents_are_numbers(tmp_path: Path) -> None:
    # 1e-3 is a JSON number; YAML 1.1 would read it as text, which strict shocks refuse
    p = _write(tmp_path, '{"price_shocks": [-0.999, 1e-3, -5E-2, 10], "vol_shocks": [-5, 5], '
                         '"time_shift_h": [0, 87600]}', "edge.json")
    grid = load(p).grid_for("BTC")
    assert sorted(set(grid.price_shock.tolist())) == [-0.999, -0.05, 0.001, 10.0]
    assert sorted(set(grid.vol_shock.tolist())) == [-5.0, 5.0]
    assert sorted(set(grid.time_shift_h.tolist())) == [0.0, 87_600.0]


def test_a_huge_grid_is_refused_before_it_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 10^6 x 10^6 points would never finish: the size is the product of the axes'
    # lengths, checked before Grid.product makes a single cell
    def never(*args: object, **kwargs: object) -> Grid:
        raise AssertionError("Grid.product called before the size check")

    monkeypatch.setattr(Grid, "product", never)
    axis = list(range(400))  # 400 x 400 = 160,000 > 100,000 (a test that fails stays fast)
    p = _write(tmp_path, orjson.dumps({"price_shocks": [x / 100 for x in axis],
                                       "vol_shocks": [x / 100 for x in axis]}).decode(), "g.json")
    with pytest.raises(ConfigError) as err:
        load(p)
    assert "grids.default: 160,000 scenarios (400 price_shocks x 400 vol_shocks" in str(err.value)
    assert err.value.hint is not None and "100,000" in err.value.hint


def test_named_scenarios_count_against_the_default_grid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scenario_files, "MAX_SCENARIOS", 100)  # (a file of 100,000 is slow)
    named = [{"name": f"s{i}", "shocks": {"BTC": 0.01}} for i in range(56)]
    p = _write(tmp_path, orjson.dumps({"scenarios": named}).decode(), "n.json")
    with pytest.raises(ConfigError, match="56 named scenarios and the default grid's 45"):
        load(p)
    monkeypatch.setattr(scenario_files, "MAX_SCENARIOS", 101)
    assert len(load(p).grid_for("BTC")) == 101


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such scenario file"):
        load(tmp_path / "nope.yaml")


def test_unknown_underlying_is_named(tmp_path: Path) -> None:
    text = "grids:\n  DOGE: {price_shocks: [0.1]}\n  default: {price_shocks: [0.2]}\n"
    cfg = load(_write(tmp_path, text))
    with pytest.raises(ConfigError, match="unknown underlying 'DOGE'") as err:
        cfg.check_underlyings({"BTC", "ETH"})
    assert err.value.hint is not None and "BTC, ETH" in err.value.hint
