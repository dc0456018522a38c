"""The returns file round trip: what `greekstream returns` writes, `greekstream var` reads
back as the same underlyings, dates and numbers (runtime/returns_file.py)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.var import Returns
from greekstream.errors import ConfigError
from greekstream.runtime.returns_file import VOL_SUFFIX, load_returns, write_returns

pytestmark = pytest.mark.timeout(120)

# any name the format can hold: not empty, no whitespace at either end, not a vol column;
# commas, quotes, line breaks and spreadsheet formula characters included
NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                max_size=12).filter(lambda u: u == u.strip() and not u.endswith(VOL_SUFFIX))
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def returns_tables(draw: st.DrawFn) -> Returns:
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    n = draw(st.integers(1, 5))
    first = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 365)))
    dates = tuple((first + timedelta(days=i)).isoformat() for i in range(n))
    col = st.lists(FINITE, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.float64))
    with_vol = draw(st.lists(st.booleans(), min_size=len(names), max_size=len(names)))
    return Returns(dates=dates, log_returns={u: draw(col) for u in names},
                   vol_changes={u: draw(col) for u, v in zip(names, with_vol, strict=True) if v})


@settings(max_examples=200, deadline=None)
@given(returns=returns_tables())
def test_what_is_written_reads_back_the_same(
    returns: Returns, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("returns") / "returns.csv"
    write_returns(path, returns)
    back = load_returns(path)
    assert back.dates == returns.dates
    assert back.underlyings == returns.underlyings
    assert list(back.log_returns) == list(returns.log_returns)
    assert list(back.vol_changes) == list(returns.vol_changes)
    for table, read in ((returns.log_returns, back.log_returns),
                        (returns.vol_changes, back.vol_changes)):
        for u, values in table.items():
            assert read[u].tobytes() == values.tobytes(), u  # bit for bit (repr floats)


def test_a_comma_in_a_name_is_quoted_not_a_new_column(tmp_path: Path) -> None:
    returns = Returns(dates=("2026-01-01",), log_returns={"A,B": np.array([-0.1])},
                      vol_changes={"A,B": np.array([0.02])})
    write_returns(tmp_path / "r.csv", returns)
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == 'date,"A,B","A,B_vol"'
    assert load_returns(tmp_path / "r.csv").underlyings == ("A,B",)


@pytest.mark.parametrize("name", [" BTC", "BTC ", "", "BTC_vol"])
def test_a_name_the_format_cannot_hold_is_refused(name: str, tmp_path: Path) -> None:
    returns = Returns(dates=("2026-01-01",), log_returns={name: np.array([0.01])})
    with pytest.raises(ConfigError, match="cannot be a returns file column"):
        write_returns(tmp_path / "r.csv", returns)
    assert not (tmp_path / "r.csv").exists()
