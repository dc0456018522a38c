"""regime_half_life_h and regime_bounds are engine settings (docs/regimes.md "Settings"):
GREEKSTREAM_ENGINE__REGIME_* reach the engine's regimes, and a bad value is a ConfigError
naming the setting (before: extra_forbidden, the settings could not be set at all)."""

from __future__ import annotations

import math

import pytest

from greekstream.core.engine import Engine
from greekstream.core.events import Regime
from greekstream.errors import ConfigError
from greekstream.runtime.scenario_files import engine_config_from_env
from greekstream.settings import EngineSettings, ProcessorSettings
from tests.unit import builders as b
from tests.unit.test_engine import of, run


def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in [k for k in os.environ if k.startswith("GREEKSTREAM_")]:
        monkeypatch.delenv(key)


def _regimes(engine: Engine) -> list[tuple[str, float]]:
    """Two hours of a quiet index, then an hour of big moves."""
    recs = [b.index(f"q{i}", 10 + 60 * i, 61000 * (1 + 0.0002 * (-1) ** i)) for i in range(120)]
    recs += [b.index(f"v{i}", 7210 + 60 * i, 61000 * (1 + 0.01 * (-1) ** i)) for i in range(60)]
    return [(r.regime, r.realized_vol) for r in of(Regime, run(engine, *recs))]


def test_the_regime_settings_reach_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean(monkeypatch)
    default = _regimes(Engine(engine_config_from_env()))
    assert [r for r, _ in default] == ["calm", "normal", "stressed"]
    monkeypatch.setenv("GREEKSTREAM_ENGINE__REGIME_BOUNDS", "[0.01, 0.02]")
    config = engine_config_from_env()
    assert config.regime_bounds == (0.01, 0.02)
    assert _regimes(Engine(config))[0][0] == "stressed"  # the quiet hours are above 0.02
    monkeypatch.setenv("GREEKSTREAM_ENGINE__REGIME_BOUNDS", "0.01, 0.02")  # (no JSON)
    assert engine_config_from_env().regime_bounds == (0.01, 0.02)
    monkeypatch.delenv("GREEKSTREAM_ENGINE__REGIME_BOUNDS")
    monkeypatch.setenv("GREEKSTREAM_ENGINE__REGIME_HALF_LIFE_H", "0.1")
    config = engine_config_from_env()
    assert config.regime_half_life_h == 0.1
    short = _regimes(Engine(config))
    assert short != default
    # the first regime, at the end of the quiet warm-up: a 6-minute half-life forgets
    # nothing there (every return alike), but the vol of the spike is reached sooner
    assert short[0][1] == pytest.approx(default[0][1], rel=1e-6)
    # and a processor reads the same
    assert ProcessorSettings().engine.regime_half_life_h == 0.1


@pytest.mark.parametrize(("name", "value", "says"), [
    ("REGIME_HALF_LIFE_H", "0", "greater than 0"),
    ("REGIME_HALF_LIFE_H", "-24", "greater than 0"),
    ("REGIME_HALF_LIFE_H", "nan", "finite"),
    ("REGIME_HALF_LIFE_H", "inf", "finite"),
    ("REGIME_HALF_LIFE_H", "a day", "number"),
    ("REGIME_BOUNDS", "[0.8, 0.4]", "must be below"),
    ("REGIME_BOUNDS", "[0.4, 0.4]", "must be below"),
    ("REGIME_BOUNDS", "[0, 0.4]", "greater than 0"),
    ("REGIME_BOUNDS", "[-0.4, 0.4]", "greater than 0"),
    ("REGIME_BOUNDS", "[0.4, 1e999]", "finite"),
    ("REGIME_BOUNDS", '[0.4, "NaN"]', "finite"),
    ("REGIME_BOUNDS", "[0.4]", "regime_bounds"),
    ("REGIME_BOUNDS", "[0.2, 0.4, 0.8]", "regime_bounds"),
    ("REGIME_BOUNDS", "0.4", "regime_bounds"),
    ("REGIME_BOUNDS", "calm", "regime_bounds"),
])
def test_a_bad_regime_setting_is_a_config_error(monkeypatch: pytest.MonkeyPatch, name: str,
                                               value: str, says: str) -> None:
    _clean(monkeypatch)
    monkeypatch.setenv(f"GREEKSTREAM_ENGINE__{name}", value)
    with pytest.raises(ConfigError) as err:
        engine_config_from_env()
    assert name.lower() in str(err.value) and says in str(err.value)


def test_settings_file_and_defaults() -> None:
    assert EngineSettings().regime_half_life_h == 24.0
    assert EngineSettings().regime_bounds == (0.40, 0.80)
    got = EngineSettings.model_validate({"regime_half_life_h": 2, "regime_bounds": [0.3, 0.9]})
    assert (got.regime_half_life_h, got.regime_bounds) == (2.0, (0.3, 0.9))
    assert not math.isnan(got.regime_half_life_h)
