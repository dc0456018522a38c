"""The analysis commands (stress, explain, var, cascade) replay an events file into the
state the processors derived: with their engine settings (GREEKSTREAM_ENGINE__*, as
`replay`, `exposure --as-of` and `audit` do), not the defaults. A trade dated an hour
past the market's clock is accepted by the default bound (366 days) and rejected
(ts_ahead) by a desk whose processors allow a minute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from greekstream.cli import main
from greekstream.core.timeutil import format_ts, parse_ts
from tests.unit.builders import T0, index, perp, quote_mark, trade

pytestmark = pytest.mark.timeout(60)

LATE = 7_200.0  # seconds after T0: an hour past the last market record
EVENTS = [perp("BTC-PERPETUAL", "linear", 1.0), index("i1", 10, 50_000.0),
          quote_mark("q1", 20, "BTC-PERPETUAL", 50_000.0),
          trade("t1", 30, "BTC-PERPETUAL", "buy", 2.0, price=50_000.0),
          index("i2", 3_600, 50_000.0),
          trade("t2", LATE, "BTC-PERPETUAL", "buy", 5.0, price=49_000.0)]


def _file(tmp_path: Path, lines: list[bytes], name: str) -> str:
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def _json(*argv: str) -> Any:
    out = Path(argv[1]).with_suffix(".out.json")
    assert main([*argv, "--out", str(out)]) == 0
    return orjson.loads(out.read_bytes())


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    """(every event, every event but the late trade)."""
    return _file(tmp_path, EVENTS, "all.jsonl"), _file(tmp_path, EVENTS[:-1], "kept.jsonl")


def _at(seconds: float) -> str:
    return format_ts(parse_ts(T0) + int(seconds * 1e6))


def test_stress_replays_with_the_processors_engine_settings(
    files: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    every, kept = files
    at = _at(LATE)
    default = _json("stress", every, "--as-of", at)
    monkeypatch.setenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S", "60")
    desk = _json("stress", every, "--as-of", at)
    assert desk != default
    assert desk == _json("stress", kept, "--as-of", at)  # the late trade: rejected


def test_explain_replays_with_the_processors_engine_settings(
    files: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    every, _kept = files
    window = ("--from", _at(3_000), "--to", _at(LATE + 1))
    (default,) = _json("explain", every, *window)
    assert default["new_trades"] == pytest.approx(5_000.0)  # 5 bought 1,000 under the mark
    monkeypatch.setenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S", "60")
    (desk,) = _json("explain", every, *window)
    assert desk["new_trades"] == 0.0  # rejected: ts_ahead


@pytest.mark.parametrize("command", ["var", "cascade"])
def test_var_and_cascade_replay_with_the_processors_engine_settings(
    command: str, files: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The config each hands the replay (their outputs need returns or loans: the
    replay's settings are checked where they are passed)."""
    import importlib

    module = importlib.import_module(f"greekstream.commands.{command}")
    seen: list[Any] = []
    real = module.replay

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("config"))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "replay", spy)
    monkeypatch.setenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S", "60")
    every, _kept = files
    if command == "var":
        returns = tmp_path / "returns.csv"
        returns.write_text("date,BTC\n2026-01-01,0.01\n2026-01-02,-0.02\n")
        argv = ["var", every, "--returns", str(returns)]
    else:
        argv = ["cascade", every, "--asset", "BTC", "--shock", "-0.2", "--depth", "1e6"]
    main([*argv, "--out", str(tmp_path / "out.json")])
    assert seen and seen[0] is not None and seen[0].max_ts_ahead_s == 60.0


def test_whatif_previews_on_the_state_of_the_processors_engine_settings(
    files: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    every, _kept = files
    trades = tmp_path / "trades.jsonl"
    trades.write_text('{"book": "desk-a", "instrument_id": "BTC-PERPETUAL", "side": "sell", '
                      '"quantity": 1}\n')

    def before() -> float:
        capsysbinary.readouterr()
        assert main(["whatif", every, "--trades", str(trades), "--format", "json"]) == 0
        (preview,) = orjson.loads(capsysbinary.readouterr().out)
        (btc,) = preview["underlyings"]
        return float(btc["before"]["delta"])

    assert before() == pytest.approx(7.0)  # 2 + the late 5
    monkeypatch.setenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S", "60")
    assert before() == pytest.approx(2.0)  # the late trade: rejected (ts_ahead)
