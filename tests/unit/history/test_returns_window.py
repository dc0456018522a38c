"""`greekstream returns` with a window reaching before 1970 (or before year 1)."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from greekstream.errors import HistoryQueryError
from greekstream.history.returns import build_returns


class _OneClose:
    """A store holding one BTC index event, on 2026-03-01."""

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        raw = orjson.dumps({"type": "index", "event_id": "i", "ts": "2026-03-01T12:00:00Z",
                            "underlying": "BTC", "price": 60000.0})
        return [("BTC", (date(2026, 3, 1) - date(1970, 1, 1)).days, raw)]


@pytest.mark.parametrize(("days", "to"), [(3, date(1, 1, 2)), (99_999_999, None),
                                          (10, date(1970, 1, 5))])
def test_a_window_before_1970_is_a_history_query_error_not_a_traceback(
    days: int, to: date | None,
) -> None:
    """--to 0001-01-02 or --days 99999999 was an OverflowError traceback ("date value out
    of range"); a window starting before 1970 can hold no stored close: a clear error."""
    with pytest.raises(HistoryQueryError, match="start before 1970-01-01") as caught:
        build_returns(_OneClose(), ["BTC"], days, to, with_vol=False)  # type: ignore[arg-type]
    assert caught.value.hint and "--days" in caught.value.hint
