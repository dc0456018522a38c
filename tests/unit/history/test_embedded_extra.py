"""chDB is the optional extra `embedded` (pyproject.toml): without it, a chdb:// DSN is a clear
error with what to do next and exit 2, from every command that opens one, never an ImportError
traceback, and nothing is created on disk. Here chDB is made unimportable (sys.modules)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from greekstream.cli import main
from greekstream.errors import HistoryError
from greekstream.history.client import require_engine

MESSAGE = "the embedded ClickHouse (chDB) is not installed"
HINT = "pip install 'greekstream[embedded]'"


@pytest.fixture
def no_chdb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "chdb", None)  # `import chdb` raises ImportError
    for name in ("GREEKSTREAM_CLICKHOUSE_DSN", "GREEKSTREAM_TOKENS_FILE",
                 "GREEKSTREAM_TOKENS_JSON"):
        monkeypatch.delenv(name, raising=False)


def test_a_chdb_dsn_without_chdb_names_the_extra(no_chdb: None) -> None:
    with pytest.raises(HistoryError) as caught:
        require_engine("chdb:///tmp/gs-nowhere")
    assert str(caught.value).startswith(f"{MESSAGE}, so chdb:///tmp/gs-nowhere/greekstream ")
    assert caught.value.hint and HINT in caught.value.hint and "http(s)://" in caught.value.hint
    assert isinstance(caught.value.__cause__, ImportError)


def test_a_server_dsn_needs_no_chdb(no_chdb: None) -> None:
    target = require_engine("http://default:pw@clickhouse:8123/greekstream")
    assert not target.embedded and target.location == "clickhouse:8123"


@pytest.mark.parametrize("argv", [
    ["history", "migrate", "{store}"],
    ["history", "status", "{store}"],
    ["exposure", "{store}", "--as-of", "2026-03-02T01:30:00Z"],
    ["audit", "{store}"],
    ["returns", "{store}", "--underlyings", "BTC", "--out", "{tmp}/r.csv"],
    ["demo", "--out", "{tmp}/demo-out"],  # default DSN chdb://<out>/chdb
    ["serve", "--new-token", "{tmp}/token"],  # default DSN chdb:///var/lib/greekstream/chdb
    ["sink", "--connect-timeout", "1"],  # the same default, checked before the broker
], ids=lambda argv: " ".join(argv[:2]))
def test_every_command_on_a_chdb_dsn_says_to_install_the_extra(
    argv: list[str], tmp_path: Path, no_chdb: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"chdb://{tmp_path / 'store'}"
    args = [a.format(store=store, tmp=tmp_path) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"greekstream {argv[0]}: error: {MESSAGE}, so chdb://"), err
    assert f"hint: {HINT}" in err and "http(s):// DSN of a ClickHouse server" in err
    assert "Traceback" not in err
    assert not (tmp_path / "store").exists() and not (tmp_path / "demo-out").exists()


def test_with_chdb_installed_the_same_command_gets_past_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check above can fail: with chDB importable, the error is the missing store's."""
    assert main(["history", "status", f"chdb://{tmp_path / 'store'}"]) == 2
    err = capsys.readouterr().err
    assert "no greekstream history at" in err and MESSAGE not in err
