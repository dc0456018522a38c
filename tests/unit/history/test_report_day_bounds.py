"""`report --date` (and a report's date at `verify`): a day outside the engine's range."""

from __future__ import annotations

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
