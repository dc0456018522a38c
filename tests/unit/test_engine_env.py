"""The processors' engine settings as the other commands read them (settings.py
``engine_settings``): replay, audit, verify and exposure re-derive the processors' outputs
with them (runtime/scenario_files.py ``engine_config_from_env``) and the gateway follows
them (`produce`). A bad one is an error, never the defaults in its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.errors import ConfigError
from greekstream.runtime.scenario_files import engine_config_from_env
from greekstream.settings import engine_settings


def test_the_engine_settings_of_the_environment_and_only_those(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS", "250")
    monkeypatch.setenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S", "3600")
    monkeypatch.setenv("GREEKSTREAM_HTTP__PORT", "not-a-port")  # not the engine's business
    monkeypatch.setenv("GREEKSTREAM_LOG_LEVEL", "debug")  # nor this
    config = engine_config_from_env()
    assert (config.emit_interval_ms, config.max_ts_ahead_s) == (250, 3600.0)
    assert engine_settings().max_ts_ahead_s == 3600.0


def test_the_engine_section_of_the_settings_file_under_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The chart's processors read a settings file (its ConfigMap): a gateway started with
    it follows the same engine section."""
    path = tmp_path / "settings.yaml"
    path.write_text("kafka: {bootstrap_servers: k:9092}\n"
                    "engine: {emit_interval_ms: 50, max_ts_ahead_s: 7200}\n")
    monkeypatch.setenv("GREEKSTREAM_SETTINGS_FILE", str(path))
    assert (engine_settings().emit_interval_ms, engine_settings().max_ts_ahead_s) == (50, 7200)
    monkeypatch.setenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S", "60")  # the environment wins
    assert engine_settings().max_ts_ahead_s == 60


def test_a_bad_engine_setting_or_settings_file_is_an_error_not_the_defaults(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Before, one bad value made every engine setting its default without a word (an
    emit_interval_ms of 250 became 100), where the processors refuse to start; and the
    gateway read -1 as no limit."""
    monkeypatch.setenv("GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS", "250")
    for bad in ("-1", "nan", "inf", "soon"):
        monkeypatch.setenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S", bad)
        with pytest.raises(ConfigError, match="max_ts_ahead_s"):
            engine_config_from_env()
    monkeypatch.delenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S")
    monkeypatch.setenv("GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS", "-5")
    with pytest.raises(ConfigError, match="emit_interval_ms"):
        engine_settings()
    monkeypatch.delenv("GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS")
    monkeypatch.setenv("GREEKSTREAM_SETTINGS_FILE", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="cannot read settings file"):
        engine_settings()
    broken = tmp_path / "broken.yaml"
    broken.write_text("engine: {emit_interval_ms: [\n")
    monkeypatch.setenv("GREEKSTREAM_SETTINGS_FILE", str(broken))
    with pytest.raises(ConfigError, match="GREEKSTREAM_SETTINGS_FILE"):
        engine_settings()
