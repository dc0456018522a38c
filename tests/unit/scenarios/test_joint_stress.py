"""Joint named scenarios (several underlyings at once), a book's total over its underlyings,
and stablecoins: never on a price grid, shocked only by their own depeg scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greekstream.cli import main
from greekstream.core.engine import Engine
from greekstream.core.events import RiskMatrixEvent
from greekstream.errors import ConfigError
from greekstream.runtime.scenario_files import LIBRARY_PATH, load
from tests.unit.scenarios.test_var import desk_events

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def events(tmp_path: Path) -> Path:
    p = tmp_path / "events.jsonl"
    p.write_bytes(b"\n".join(desk_events()) + b"\n")
    return p


def _stress(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["stress", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def _file(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_the_compact_form_is_the_long_form(tmp_path: Path) -> None:
    short = load(_file(tmp_path, "a.yaml", "scenarios:\n  - name: j\n"
                       "    shocks: {BTC: -0.3, ETH: -0.4, vol: 0.25, time_shift_h: 24}\n"))
    long = load(_file(tmp_path, "b.yaml", "scenarios:\n  - name: j\n    shocks:\n"
                      "      BTC: {price_shock: -0.3, vol_shock: 0.25, time_shift_h: 24}\n"
                      "      ETH: {price_shock: -0.4, vol_shock: 0.25, time_shift_h: 24}\n"))
    assert short.named[0].shocks == long.named[0].shocks
    for u in ("BTC", "ETH", "SOL"):
        assert short.grid_for(u).scenarios() == long.grid_for(u).scenarios()


def test_a_grid_for_a_stablecoin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="never shocked by a price grid"):
        load(_file(tmp_path, "g.yaml", "grids:\n  USDC: {price_shocks: [-0.5, 0.5]}\n"))


def _totals(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["book"]): r for r in rows if r["underlying"] == "ALL"}


def test_a_joint_scenario_is_the_sum_of_its_parts_when_independent(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """desk-a holds BTC options, perpetuals and collateral and an ETH call, perpetual and
    loan: the joint scenario's total is the BTC-only and ETH-only scenarios' totals added."""
    joint = _file(tmp_path, "j.yaml", "scenarios:\n  - name: joint\n"
                  "    shocks: {BTC: -0.3, ETH: -0.4, vol: 0.25}\n")
    apart = _file(tmp_path, "p.yaml", "scenarios:\n"
                  "  - name: btc\n    shocks: {BTC: -0.3, vol: 0.25}\n"
                  "  - name: eth\n    shocks: {ETH: -0.4, vol: 0.25}\n")
    together = _totals(_stress(capsys, str(events), "--scenarios", joint))
    parts = _totals(_stress(capsys, str(events), "--scenarios", apart))
    assert set(together) == {"desk-a", "desk-b", "treasury"}
    for book, row in together.items():
        (j,) = row["scenarios"]  # type: ignore[misc]
        by_name = {s["name"]: s for s in parts[book]["scenarios"]}  # type: ignore[attr-defined]
        assert j["pnl"] == pytest.approx(by_name["btc"]["pnl"] + by_name["eth"]["pnl"],
                                         rel=1e-12, abs=1e-6)
        assert j["by_underlying"]["BTC"] == by_name["btc"]["pnl"]
        assert j["by_underlying"]["ETH"] == by_name["eth"]["pnl"]
    # and each part is that underlying's own row's named scenario
    rows = _stress(capsys, str(events), "--scenarios", joint, "--book", "desk-a")
    per = {r["underlying"]: r for r in rows if r["underlying"] != "ALL"}
    assert set(per) == {"BTC", "ETH"}  # desk-a's USDC debt is not shocked by `joint`
    j = together["desk-a"]["scenarios"][0]  # type: ignore[index]
    for u in ("BTC", "ETH"):
        assert j["by_underlying"][u] == per[u]["scenarios"][-1]["pnl"]  # type: ignore[index]


def test_stablecoins_leave_the_grid_and_appear_under_depegs(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = _stress(capsys, str(events))
    assert not [r for r in plain if r["underlying"] == "USDC"]  # never on a price grid
    assert not [r for r in plain if r["underlying"] == "ALL"]  # no named scenario
    rows = _stress(capsys, str(events), "--scenarios", str(LIBRARY_PATH), "--book", "desk-b")
    usdc = next(r for r in rows if r["underlying"] == "USDC")
    names = [s["name"] for s in usdc["scenarios"]]  # type: ignore[union-attr]
    assert names == ["march-2023-usdc-depeg", "stablecoin-depeg-2pct",
                     "stablecoin-depeg-5pct", "stablecoin-depeg-10pct"]
    # desk-b holds 2,000,000 USDC at an index of 0.9995: c·(S' − S) = c·S·p
    for s in usdc["scenarios"]:  # type: ignore[union-attr]
        assert s["pnl"] == pytest.approx(2_000_000.0 * 0.9995 * s["price_shock"], rel=1e-12)
    assert usdc["worst_loss"] == pytest.approx(2_000_000.0 * 0.9995 * 0.12, rel=1e-12)
    assert usdc["worst_scenario"]["name"] == "march-2023-usdc-depeg"  # type: ignore[index]
    total = _totals(rows)["desk-b"]
    march = next(s for s in total["scenarios"] if s["name"] == "march-2023-usdc-depeg")  # type: ignore[attr-defined]
    assert set(march["by_underlying"]) == {"BTC", "ETH", "USDC"}
    assert march["pnl"] == pytest.approx(sum(march["by_underlying"].values()), rel=1e-12)


def test_the_engine_streams_no_matrix_for_a_stablecoin() -> None:
    engine = Engine()
    outputs = [o for i, raw in enumerate(desk_events())
               for o in engine.handle(raw, f"e:{i}")]
    keys = {(o.book, o.underlying) for o in outputs if isinstance(o, RiskMatrixEvent)}
    assert ("desk-b", "BTC") in keys and ("desk-b", "ETH") in keys
    assert not [k for k in keys if k[1] == "USDC"]
