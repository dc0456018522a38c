"""The demo's last lines: the command that serves its store, and `make serve` only when
that is what `make serve` serves (demo-out/chdb in the current folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.commands.demo import _next_step


def test_make_serve_is_offered_for_the_default_store_only(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _next_step(f"chdb://{(tmp_path / 'demo-out' / 'chdb')}", Path("demo-out"))
    default = capsys.readouterr().out
    assert "make serve" in default and "--dsn chdb://" in default
    _next_step(f"chdb://{(tmp_path / 'small-demo' / 'chdb')}", Path("small-demo"))
    other = capsys.readouterr().out
    assert "make serve" not in other
    assert f"--dsn chdb://{tmp_path / 'small-demo' / 'chdb'}" in other
    assert "small-demo/token.txt" in other
