"""A number setting given a YAML boolean is refused, not read as 1 or 0: pydantic's lax
ints and floats take ``true``, and YAML reads ``yes``/``on`` as true, so a slip such as
``emit_interval_ms: on`` ran with 1 ms windows, ``risk_interval_s: yes`` revalued every
book's risk every second, and ``connections: true`` gave serve one connection."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from greekstream.settings import (
    EngineSettings,
    ProcessorSettings,
    QuerySettings,
    ServeSettings,
    SinkSettings,
)
from tests.cli import run


@pytest.mark.parametrize(("model", "field"), [
    (EngineSettings, "emit_interval_ms"),  # int
    (EngineSettings, "risk_interval_s"),  # an Interval (float)
    (EngineSettings, "var_confidence"),
    (ProcessorSettings, "batch_max_ms"),
    (ProcessorSettings, "checkpoint_interval_s"),
    (SinkSettings, "batch_rows"),
    (QuerySettings, "connections"),
])
@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_for_a_number_is_refused(model: type, field: str, value: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREEKSTREAM_SETTINGS_FILE", raising=False)
    with pytest.raises(ValidationError, match="a number is wanted, not " + str(value).lower()):
        model(**{field: value})
    model(**{field: 2 if "confidence" not in field else 0.5})  # a number still is one


def test_regime_bounds_refuse_booleans() -> None:
    with pytest.raises(ValidationError, match="two numbers are wanted"):
        EngineSettings(regime_bounds=(True, 2.0))
    assert EngineSettings(regime_bounds="[0.3, 0.9]").regime_bounds == (0.3, 0.9)


def test_a_settings_file_slip_is_a_config_error_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("engine:\n  emit_interval_ms: on\n", encoding="utf-8")
    monkeypatch.setenv("GREEKSTREAM_SETTINGS_FILE", str(path))
    with pytest.raises(ValidationError, match="emit_interval_ms"):
        ProcessorSettings()
    code, _, err = run("replay", str(tmp_path / "none.jsonl"))
    assert code == 2, err
    assert "emit_interval_ms" in err and "a number is wanted, not true" in err, err


def test_booleans_stay_booleans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREEKSTREAM_SETTINGS_FILE", raising=False)
    assert ProcessorSettings(static_membership=True).static_membership is True
    assert ServeSettings().queries.connections == 8
