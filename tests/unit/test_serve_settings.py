"""Listener settings at the edge: loopback by default, ports in range, clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from greekstream.cli import main
from greekstream.settings import ProcessorSettings, ServeSettings, SinkSettings


def test_every_listener_binds_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREEKSTREAM_HTTP__HOST", raising=False)
    for settings in (ServeSettings, SinkSettings, ProcessorSettings):
        assert settings().http.host == "127.0.0.1", settings.__name__


@pytest.mark.parametrize("command", ["serve", "sink", "process"])
def test_a_port_out_of_range_is_a_clear_error(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for value, says in (("70000", "70000 is out of range: a port is 0..65535"),
                        ("-1", "out of range"), ("http", "'http' is not a port number")):
        with pytest.raises(SystemExit) as done:
            main([command, "--port", value])
        assert done.value.code == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, err


def test_a_port_out_of_range_in_the_environment_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GREEKSTREAM_HTTP__PORT", "70000")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "http.port" in err and "65535" in err, err


def test_a_new_token_is_not_left_behind_when_the_server_cannot_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--new-token writes its files first; a store that cannot be opened (here: none) stops
    the server before it runs, and its token files go with it (a token for nothing)."""
    root = logging.getLogger()  # serve sets up JSON logs on the root logger: undone after
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    token = tmp_path / "token"
    code = main(["serve", "--dsn", f"chdb://{tmp_path / 'no-store'}", "--new-token",
                 str(token)])
    assert code == 2
    err = capsys.readouterr().err
    assert "no greekstream history" in err and "Traceback" not in err, err
    assert not token.exists() and not (tmp_path / "token.txt").exists()
