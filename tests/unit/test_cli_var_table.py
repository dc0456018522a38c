"""`greekstream var --format table` shows the confidence it used, as given: `:g` rounded
0.9999999 to "confidence 1" (and 0.9999995 to "1" too), a level VaR is never run at."""

from __future__ import annotations

import pytest

from greekstream.commands.var import table_text
from greekstream.core.var import book_var
from greekstream.runtime.returns_file import parse_returns
from tests.unit.scenarios.slices import linear, make


@pytest.mark.parametrize("confidence", [0.99, 0.975, 0.9999999, 0.12345678])
def test_the_table_names_the_confidence_as_given(confidence: float) -> None:
    returns = parse_returns("date,BTC\n2026-01-01,-0.1\n2026-01-02,0.02\n2026-01-03,0.01\n")
    report = book_var("desk-a", [make(linear=linear([1.0], [60_000.0]))], returns, 0,
                      confidence)
    first = table_text([report], 0).splitlines()[0]
    assert f"confidence {confidence!r}, " in first
