"""A bad Kafka setting or settings file is one error line and exit 2 in every Kafka
command, before any broker is asked: `topics` and `produce` built KafkaClientSettings
bare (a pydantic traceback, exit 1), and `process`/`sink` let a settings file that is
missing or not YAML through as a ValueError/YAMLError traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.kafka import reach
from tests.cli import run

COMMANDS = [
    ("topics", ["list"]),
    ("topics", ["create"]),
    ("produce", ["EVENTS"]),
    ("process", []),
    ("sink", ["--dsn", "chdb:///tmp/greekstream-never"]),
]


def _no_broker(*_args: object) -> None:
    raise AssertionError("a broker was asked with bad settings")


@pytest.fixture(params=["bad value", "missing file", "not yaml"])
def bad_settings(request: pytest.FixtureRequest, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("GREEKSTREAM_SETTINGS_FILE", "GREEKSTREAM_KAFKA__SASL_MECHANISM"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "bad value":
        monkeypatch.setenv("GREEKSTREAM_KAFKA__SASL_MECHANISM", "FOO")
        return "sasl_mechanism"
    path = tmp_path / "settings.yaml"
    if request.param == "not yaml":
        path.write_text("kafka: [\n", encoding="utf-8")
    monkeypatch.setenv("GREEKSTREAM_SETTINGS_FILE", str(path))
    return str(path) if request.param == "missing file" else "while parsing"


@pytest.mark.parametrize(("command", "args"), COMMANDS, ids=[" ".join([c, *a][:2])
                                                               for c, a in COMMANDS])
def test_bad_kafka_settings_are_a_config_error(
        command: str, args: list[str], bad_settings: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reach, "require_broker", _no_broker)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"")
    argv = [str(events) if a == "EVENTS" else a for a in args]
    try:
        code, _, err = run(command, *argv, "--connect-timeout", "1")
    except Exception as exc:  # the defect: it came out as a traceback
        pytest.fail(f"greekstream {command}: {type(exc).__name__} came out: {exc}")
    assert code == 2, err
    assert err.startswith(f"greekstream {command}: error: bad "), err
    assert bad_settings in err
