"""Historical returns files for VaR (docs/contract.md, *Historical VaR and expected shortfall*).

CSV with a header: ``date``, then per underlying ``<U>`` (the daily log return of its
index) and optionally ``<U>_vol`` (the daily change of its ATM implied vol, absolute:
0.05 is five vol points)::

    date,BTC,BTC_vol,ETH,ETH_vol
    2026-01-02,-0.0213,0.012,-0.0301,0.015
    2026-01-03,0.0154,-0.004,0.0188,-0.006

Dates are ISO (YYYY-MM-DD), each once, in any order (``worst_date`` reports the date as
written). Every cell must be a finite number, a log return at most 5 in size (a day's
move by a factor of 148) and a vol change too (500 vol points): beyond, it is a data
error (often a percent written for a fraction: -5 for -5 %). An empty cell is a gap in
the history and an error, not a zero. Every problem is a
:class:`~greekstream.errors.ConfigError` naming the file, the line and the column: a
file the CSV reader refuses (a field past its size limit), a NUL byte, a value out of
range.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date
from pathlib import Path

import numpy as np

from greekstream.core.var import Returns
from greekstream.errors import ConfigError
from greekstream.runtime.whole_file import write_whole

VOL_SUFFIX = "_vol"
# a day's |log return| beyond it (a move by e^5, 148x) is a data error; the same bound
# for a vol change (absolute: 5 is 500 vol points), as a scenario file's vol shock
MAX_LOG_RETURN = 5.0
MAX_VOL_CHANGE = 5.0
_HINT = ("a returns file is CSV: `date,BTC,BTC_vol,ETH,...` then one row per day; "
         "`greekstream returns DSN --underlyings BTC,ETH --out FILE` writes one from history")


def load_returns(path: str | Path) -> Returns:
    """Read and check a returns file; any problem raises ConfigError, nothing partial."""
    p = Path(path)
    try:
        # a spreadsheet's BOM is not a column name; newline="": line breaks in a quoted
        # cell are read as written (Path.read_text takes no newline before 3.13)
        with p.open(encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except FileNotFoundError as exc:
        raise ConfigError(f"no such returns file: {p}", hint=_HINT) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read returns file {p}: {exc}") from exc
    return parse_returns(text, str(p))


def parse_returns(text: str, name: str = "returns") -> Returns:
    rows = _rows(text, name)
    if not rows:
        raise ConfigError(f"{name}: an empty returns file", hint=_HINT)
    header = [c.strip() for c in rows[0][1]]
    underlyings = _check_header(header, name)
    if len(rows) < 2:
        raise ConfigError(f"{name}: a header and no rows", hint=_HINT)
    dates: list[str] = []
    seen: set[str] = set()
    values = np.empty((len(rows) - 1, len(header) - 1), dtype=np.float64)
    for i, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise ConfigError(f"{name}:{line}: {len(row)} cells for {len(header)} columns")
        day = _date(row[0].strip(), name, line, seen)
        dates.append(day)
        for j, cell in enumerate(row[1:]):
            values[i, j] = _number(cell.strip(), name, line, header[j + 1], day)
    column = {h: values[:, j].copy() for j, h in enumerate(header[1:])}
    return Returns(
        dates=tuple(dates),
        log_returns={u: column[u] for u in underlyings},
        vol_changes={u: column[u + VOL_SUFFIX] for u in underlyings
                     if u + VOL_SUFFIX in column},
    )


def _rows(text: str, name: str) -> list[tuple[int, list[str]]]:
    """The rows that are not blank, each with the line it starts on (a blank line or a
    quoted line break moves the next rows' lines); a row the CSV reader refuses (a
    field past csv.field_size_limit) or one holding a NUL byte is a ConfigError."""
    # newline="": a quoted cell may hold a line break (the writer quotes what needs it)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            raise ConfigError(f"{name}:{reader.line_num}: not readable as CSV: {exc}",
                              hint=_HINT) from exc
        if any("\x00" in c for c in row):
            raise ConfigError(f"{name}:{start}: a NUL byte (a binary file, or a broken "
                              "export?)", hint=_HINT)
        if any(c.strip() for c in row):
            rows.append((start, row))
        start = reader.line_num + 1


def _check_header(header: list[str], name: str) -> list[str]:
    if header[0] != "date":
        raise ConfigError(f"{name}: the first column must be `date`, not {header[0]!r}",
                          hint=_HINT)
    cols = header[1:]
    if not cols:
        raise ConfigError(f"{name}: no underlying column after `date`", hint=_HINT)
    if len(set(cols)) != len(cols) or any(not c for c in cols):
        raise ConfigError(f"{name}: empty or repeated column names in {header}", hint=_HINT)
    underlyings = [c for c in cols if not c.endswith(VOL_SUFFIX)]
    orphans = [c for c in cols if c.endswith(VOL_SUFFIX) and c[: -len(VOL_SUFFIX)]
               not in underlyings]
    if orphans:
        raise ConfigError(f"{name}: {', '.join(orphans)} without its return column "
                          f"{', '.join(o[: -len(VOL_SUFFIX)] for o in orphans)}", hint=_HINT)
    return underlyings


def _date(cell: str, name: str, line: int, seen: set[str]) -> str:
    """The date as written (it is what `worst_date` reports); it must start with an ISO
    date and appear once. Rows may come in any order (newest first is common)."""
    try:
        date.fromisoformat(cell[:10])
    except ValueError as exc:
        raise ConfigError(f"{name}:{line}: date {cell!r} is not YYYY-MM-DD") from exc
    day = cell[:10]  # "2026-01-01" and "2026-01-01T00:00Z" are the same day
    if day in seen:
        raise ConfigError(f"{name}:{line}: date {cell} appears twice (day {day})",
                          hint="one row per day")
    seen.add(day)
    return cell


def _number(cell: str, name: str, line: int, column: str, day: str) -> float:
    if not cell:
        raise ConfigError(f"{name}:{line}: no value for {column} (a gap in the history)",
                          hint="fill the day from the source or drop the row")
    try:
        value = float(cell)
    except ValueError as exc:
        raise ConfigError(f"{name}:{line}: {column} = {cell!r} is not a number",
                          hint=_RANGE_HINT) from exc
    if not math.isfinite(value):
        raise ConfigError(f"{name}:{line}: {column} = {cell!r} is not finite",
                          hint=_RANGE_HINT)
    problem = _out_of_range(column, value)
    if problem:
        raise ConfigError(f"{name}:{line}: {column} = {cell} on {day}: {problem}",
                          hint=_RANGE_HINT)
    return value


def _out_of_range(column: str, value: float) -> str | None:
    if column.endswith(VOL_SUFFIX):
        if abs(value) > MAX_VOL_CHANGE:
            return (f"a daily vol change beyond ±{MAX_VOL_CHANGE:g} (absolute: "
                    f"{MAX_VOL_CHANGE:g} is {MAX_VOL_CHANGE:.0%} vol) is a data error")
    elif abs(value) > MAX_LOG_RETURN:
        return (f"a daily log return beyond ±{MAX_LOG_RETURN:g} (a move by a factor of "
                f"{math.exp(MAX_LOG_RETURN):.0f}) is a data error")
    return None


_RANGE_HINT = ("check the source for that day; a log return is ln(close / previous close), "
               "e.g. -0.0513 for a 5% fall (not -5), and a vol change is absolute, "
               "e.g. 0.05 for five vol points")


def write_returns(path: str | Path, returns: Returns) -> None:
    """The CSV form of ``returns`` (repr floats: read back exactly), quoted where a cell
    needs it (RFC 4180: an underlying holding a comma, a quote or a line break), so that
    :func:`load_returns` reads back the same underlyings and numbers. Its cells are not
    escaped as an export's are (reports/tables.py ``csv_cell``): greekstream reads the
    file back, and a quote before a negative return or an underlying would change it.
    An underlying the format cannot name (empty, whitespace at either end, which a
    header cell loses, or ending in ``_vol``, the vol columns' suffix) is a ConfigError,
    not a file that reads back as something else; so is a value :func:`load_returns`
    would refuse (a log return or vol change beyond ±5), and nothing is written."""
    header = ["date"]
    for u in returns.underlyings:
        if not u or u != u.strip() or u.endswith(VOL_SUFFIX):
            raise ConfigError(
                f"underlying {u!r} cannot be a returns file column: a header cell is read "
                f"without surrounding whitespace, and a name ending in {VOL_SUFFIX} is a "
                "vol column", hint="a returns file names underlyings as the index events do, "
                "e.g. BTC; rename this one or leave it out with --underlyings")
        header.append(u)
        if u in returns.vol_changes:
            header.append(u + VOL_SUFFIX)
    for column, values in _columns(returns):
        for j, value in enumerate(values.tolist()):
            problem = _out_of_range(column, value)
            if problem:
                raise ConfigError(f"{column} = {value!r} on {returns.dates[j]}: {problem}; "
                                  "no returns file written", hint=_RANGE_HINT)
    buffer = io.StringIO()
    # CRLF (RFC 4180): the csv module quotes a cell holding a character of the line
    # terminator, so with "\n" alone a lone CR went unquoted and split its row
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for j, day in enumerate(returns.dates):
        cells = [day]
        for u in returns.underlyings:
            cells.append(repr(float(returns.log_returns[u][j])))
            if u in returns.vol_changes:
                cells.append(repr(float(returns.vol_changes[u][j])))
        writer.writerow(cells)
    write_whole(path, buffer.getvalue().encode("utf-8"))


def _columns(returns: Returns) -> list[tuple[str, np.ndarray]]:
    return [*returns.log_returns.items(),
            *((u + VOL_SUFFIX, v) for u, v in returns.vol_changes.items())]
