"""Ctrl-C (SIGINT) at any moment of a command, its start included, ends it with exit
status 130 and one line, "interrupted", never a traceback."""

from __future__ import annotations

import pytest

from greekstream import cli


def _interrupt(_name: str) -> cli.Command:
    raise KeyboardInterrupt


def _main(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except KeyboardInterrupt:  # (not to pytest: it would stop the session)
        pytest.fail("KeyboardInterrupt came out of cli.main (a traceback on a terminal)")


def test_ctrl_c_while_the_command_is_imported_is_exit_130_without_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # importing a command (numpy, pydantic, the engine) takes about a second: a Ctrl-C
    # then came out of build_parser as an uncaught KeyboardInterrupt, a traceback
    monkeypatch.setattr(cli, "_load", _interrupt)
    assert _main(["stress", "events.jsonl"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_ctrl_c_while_the_command_runs_is_exit_130(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from greekstream.commands import keygen

    def run(_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(keygen, "run", run)
    assert _main(["keygen", "k"]) == 130
    assert capsys.readouterr().err == "interrupted\n"
