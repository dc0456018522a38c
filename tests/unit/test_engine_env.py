"""What replay, audit and verify re-derive a processor's outputs with
(runtime/scenario_files.py ``engine_config_from_env``): the processor's engine settings from
its environment, and a bad one is an error, never the defaults in its place."""

from __future__ import annotations

import pytest

from greekstream.errors import ConfigError
from greekstream.runtime.scenario_files import engine_config_from_env


def test_the_engine_settings_of_the_environment_and_only_those(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS", "250")
    monkeypatch.setenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S", "3600")
    monkeypatch.setenv("GREEKSTREAM_HTTP__PORT", "not-a-port")  # not the engine's business
    config = engine_config_from_env()
    assert (config.emit_interval_ms, config.max_ts_ahead_s) == (250, 3600.0)


def test_a_bad_engine_setting_is_an_error_not_the_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, one bad value made every engine setting its default without a word (an
    emit_interval_ms of 250 became 100), where the processors refuse to start."""
    monkeypatch.setenv("GREEKSTREAM_ENGINE__EMIT_INTERVAL_MS", "250")
    for bad in ("-1", "nan"):
        monkeypatch.setenv("GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S", bad)
        with pytest.raises(ConfigError, match="max_ts_ahead_s"):
            engine_config_from_env()
