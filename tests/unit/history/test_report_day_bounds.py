"""`report --date` (and a report's date at `verify`): a day outside the engine's range."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.core import guards
from greekstream.errors import HistoryQueryError
from greekstream.history.report import DAY_US, day_bounds


def test_a_day_outside_the_engines_range_is_a_history_query_error_with_a_hint() -> None:
    """9999-12-31 or 0001-01-01 parsed, and the day's bounds reached ClickHouse and
    format_ts past what either holds; now the date is refused, naming the range."""
    for day in ("9999-12-31", "0001-01-01", "2106-01-01", "1969-12-31"):
        with pytest.raises(HistoryQueryError, match="out of the range") as caught:
            day_bounds(day)
        assert caught.value.hint and "--date" in caught.value.hint
    assert day_bounds("1970-01-01") == (0, DAY_US - 1)
    assert day_bounds("2105-12-31")[1] == guards.MAX_TS_US
    with pytest.raises(HistoryQueryError, match="bad date"):
        day_bounds("2026-13-01")


@pytest.mark.parametrize("day", ["9999-12-31", "2026-W09-1", "2026-03-01T00:00:00Z"])
def test_report_refuses_a_bad_day_before_opening_the_key_or_the_store(
    day: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The day was read inside build_report, after the key was loaded and the store
    opened (a chDB directory created for nothing); an ISO week date was a day."""
    from greekstream.cli import main

    store = tmp_path / "store"
    code = main(["report", f"chdb://{store}", "--date", day, "--key", str(tmp_path / "k")])
    err = capsys.readouterr().err
    assert code == 2 and "bad date" in err and "--date" in err, err
    assert not store.exists()
