"""`greekstream --help COMMAND` prints the overview, as `greekstream --help` does: it
printed each other command's summary as "(run `greekstream NAME --help`)"."""

from __future__ import annotations

import pytest

from greekstream import cli


@pytest.mark.parametrize("argv", [["--help"], ["--help", "stress"], ["-h", "sample"]])
def test_the_overview_has_every_summary(argv: list[str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "(run `greekstream" not in out
    assert "write a deterministic sample events file" in out
    assert "full-revaluation scenario P&L" in out
