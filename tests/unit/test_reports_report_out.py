"""`greekstream report --out` naming the private key (`--key`) refuses, and leaves the
key as it was: the signed report was written over it, the only copy of the key gone."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import greekstream.commands.report as report_command
from greekstream.cli import main
from greekstream.reports.signing import keygen, load_private


@pytest.fixture
def no_store(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextlib.contextmanager
    def connect(_dsn: str) -> Iterator[object]:
        yield object()

    def build(_history: Any, day: str) -> dict[str, Any]:
        return {"date": day, "books": {}}

    monkeypatch.setattr(report_command, "connect", connect)
    monkeypatch.setattr(report_command, "build_report", build)


@pytest.mark.usefixtures("no_store")
@pytest.mark.parametrize("how", ["same", "dot", "link"])
def test_out_on_the_key_is_refused_and_the_key_kept(
    how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    key, _ = keygen(tmp_path / "k")
    before = key.read_bytes()
    out = {"same": str(key), "dot": f"{tmp_path}/./k", "link": str(tmp_path / "alias")}[how]
    if how == "link":
        os.symlink(key, out)
    code = main(["report", "chdb:///nowhere", "--date", "2026-03-02", "--key", str(key),
                 "--out", out])
    err = capsys.readouterr().err
    assert key.read_bytes() == before
    assert code == 2 and "--key" in err, err
    assert load_private(key)


@pytest.mark.usefixtures("no_store")
def test_another_out_is_written(tmp_path: Path) -> None:
    key, _ = keygen(tmp_path / "k")
    out = tmp_path / "r.json"
    assert main(["report", "chdb:///nowhere", "--date", "2026-03-02", "--key", str(key),
                 "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"{")
