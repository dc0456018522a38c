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
from greekstream.runtime.returns_file import (
    VOL_SUFFIX,
    load_returns,
    parse_returns,
    write_returns,
)

pytestmark = pytest.mark.timeout(120)

# any name the format can hold: not empty, no whitespace at either end, not a vol column;
# commas, quotes, line breaks and spreadsheet formula characters included
NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                max_size=12).filter(lambda u: u == u.strip() and not u.endswith(VOL_SUFFIX))
# what the format holds: a log return or vol change at most 5 in size, finite
VALUES = st.floats(min_value=-5.0, max_value=5.0, allow_nan=False, width=64)


@st.composite
def returns_tables(draw: st.DrawFn) -> Returns:
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    n = draw(st.integers(1, 5))
    first = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 365)))
    dates = tuple((first + timedelta(days=i)).isoformat() for i in range(n))
    col = st.lists(VALUES, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.float64))
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


@pytest.mark.parametrize(("text", "message"), [
    # a field past csv.field_size_limit (131,072) raised _csv.Error: a traceback
    ('date,BTC\n2026-01-01,0.1\n2026-01-02,"' + "1" * 140_000 + '"\n',
     r"^r.csv:3: not readable as CSV: field larger than field limit"),
    # a NUL byte (older Pythons' csv raised "line contains NUL"); in a date it passed
    ("date,BTC\n2026-01-01,0.1\n2026-01-02\x00,0.2\n", r"^r.csv:3: a NUL byte"),
    ("date,BTC\x00\n2026-01-01,0.1\n", r"^r.csv:1: a NUL byte"),
    # a daily log return beyond ±5 (x148) is a data error, named by line and date
    ("date,BTC\n2026-01-01,0.1\n2026-01-02,-7\n",
     r"^r.csv:3: BTC = -7 on 2026-01-02: a daily log return beyond ±5"),
    ("date,BTC\n2026-01-01,5.000001\n", r"^r.csv:2: BTC = 5.000001 on 2026-01-01"),
    ("date,BTC,BTC_vol\n2026-01-01,0.1,5.5\n",
     r"^r.csv:2: BTC_vol = 5.5 on 2026-01-01: a daily vol change beyond ±5"),
    ("date,BTC\n2026-01-01,1e400\n", r"^r.csv:2: BTC = '1e400' is not finite"),
    ("date,BTC\n2026-01-01,-inf\n", r"^r.csv:2: BTC = '-inf' is not finite"),
    # lines are the file's: a blank line or a quoted line break counts
    ("date,BTC\n\n2026-01-01,0.1\n\n2026-01-02,abc\n", r"^r.csv:5: BTC = 'abc'"),
    ('date,"B\nTC"\n2026-01-01,x\n', r"^r.csv:3: B\nTC = 'x'"),
    # one day written twice, once with a suffix: it passed the once-per-day check
    ("date,BTC\n2026-01-01,0.1\n2026-01-01T00:00:00Z,0.2\n",
     r"^r.csv:3: date 2026-01-01T00:00:00Z appears twice \(day 2026-01-01\)"),
])
def test_bad_cells_and_unreadable_csv_are_config_errors_naming_the_line(
    text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_returns(text, "r.csv")
    assert err.value.hint


def test_returns_of_five_in_size_are_read() -> None:
    r = parse_returns("date,BTC,BTC_vol\n2026-01-01,5,-5\n2026-01-02,-5.0,5.0\n")
    assert r.log_returns["BTC"].tolist() == [5.0, -5.0]
    assert r.vol_changes["BTC"].tolist() == [-5.0, 5.0]


@pytest.mark.parametrize(("log", "vol", "message"), [
    (7.0, 0.0, r"^BTC = 7.0 on 2026-01-02: a daily log return beyond ±5"),
    (0.0, -6.0, r"^BTC_vol = -6.0 on 2026-01-02: a daily vol change beyond ±5"),
])
def test_what_would_not_read_back_is_not_written(
    tmp_path: Path, log: float, vol: float, message: str
) -> None:
    returns = Returns(dates=("2026-01-01", "2026-01-02"),
                      log_returns={"BTC": np.array([0.01, log])},
                      vol_changes={"BTC": np.array([0.0, vol])})
    with pytest.raises(ConfigError, match=message):
        write_returns(tmp_path / "r.csv", returns)
    assert not (tmp_path / "r.csv").exists()
