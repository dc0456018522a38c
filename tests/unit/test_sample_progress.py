"""The sample writers' last progress line counts what was written."""

from __future__ import annotations

import io

import pytest

from greekstream.sample.writer import write_lines


@pytest.mark.parametrize("estimate", [100_020, 100_000])
def test_the_final_progress_line_gives_the_lines_written(
    estimate: int, capsys: pytest.CaptureFixture[str],
) -> None:
    """The market profile's total is an estimate made before its random seconds are drawn:
    the last line read "sample market: 119,925/119,927 events 100.0%" for a file of
    119,925 (or more lines than the total, once seconds are added to reach --events)."""
    out = io.BytesIO()
    count = write_lines((b"{}" for _ in range(100_010)), out, estimate, "sample market", True)
    assert count == 100_010 and out.getvalue().count(b"\n") == 100_010
    last = capsys.readouterr().err.splitlines()[-1]
    assert "100,010/100,010 events 100.0%" in last, last
