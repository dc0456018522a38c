"""Per (book, underlying) risk state: positions, cached totals, limits, breaches, hedging.

Totals are kept incrementally (a trade adds q·greeks; a quote adds pos·Δgreeks) and
recomputed from scratch at every periodic full revaluation, which also removes
the floating-point drift of many small increments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from greekstream.core.records import record

# Quantities below this many contracts are treated as a closed position.
FLAT = 1e-9


class TotalsTable:
    """The six Greek totals (delta, gamma, vega, theta, vanna, volga) of many
    (book, underlying)s as the rows of one float64 array, so that a quote updates all of
    its holders' rows in one vectorised step (docs/engine.md, "Columnar totals").

    A row is taken when a key is created and given back when it is dropped; a row that is
    taken again starts at zero. Row numbers are never part of a snapshot or an output.
    """

    __slots__ = ("arr", "flat", "free", "pending", "used")

    # quote updates held before they are applied (a bound on memory between reads)
    MAX_PENDING = 4096

    def __init__(self, rows: int = 64) -> None:
        self.arr = np.zeros((rows, 6))
        self.flat = self.arr.reshape(-1)  # the same memory, one cell after another
        self.free: list[int] = []
        self.used = 0
        # add_at's updates not applied yet: (cells, quantities, Greek changes) each
        self.pending: list[tuple[np.ndarray, np.ndarray, Sequence[float]]] = []

    def take(self) -> int:
        self.settle()
        if self.free:
            row = self.free.pop()
            self.arr[row] = 0.0
            return row
        if self.used == len(self.arr):
            self.arr = np.concatenate([self.arr, np.zeros_like(self.arr)])
            self.flat = self.arr.reshape(-1)
        self.used += 1
        return self.used - 1

    def give_back(self, row: int) -> None:
        self.free.append(row)

    @staticmethod
    def cells(rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """The flat indices of the six cells of each row, in row order."""
        at = np.asarray(rows, dtype=np.intp)
        return (at[:, None] * 6 + np.arange(6, dtype=np.intp)).reshape(-1)

    def add_at(self, cells: np.ndarray, qty: np.ndarray, deltas: Sequence[float]) -> None:
        """Each row of ``cells`` (distinct rows) += its ``qty`` (a column) · ``deltas``:
        per cell the same two IEEE operations as ``t += q * g``. The update is held
        until the table is next read (:meth:`settle`), so that a quote storm's updates
        are applied together. Flat indices are cheaper to gather and scatter than rows of
        a 2-D array, and stay valid when the table grows (a row is always six cells)."""
        pending = self.pending
        pending.append((cells, qty, deltas))
        if len(pending) >= self.MAX_PENDING:
            self.settle()

    def settle(self) -> None:
        """Apply the held updates, in the order they came: every product ``q * g`` as
        one IEEE multiplication, then each cell's sums in order (``np.add.at`` adds
        element by element, index order), so the bits are those of applying each update
        at once."""
        pending = self.pending
        if not pending:
            return
        self.pending = []
        flat = self.flat
        if len(pending) == 1:
            cells, qty, deltas = pending[0]
            flat[cells] = flat[cells] + (qty * np.array(deltas)).reshape(-1)
            return
        cells = np.concatenate([p[0] for p in pending])
        qty = np.concatenate([p[1] for p in pending])
        each = np.repeat(np.array([p[2] for p in pending]), [len(p[1]) for p in pending],
                         axis=0)  # each holder's row of Greek changes
        np.add.at(flat, cells, (qty * each).reshape(-1))


class Totals:
    """One key's row of a :class:`TotalsTable` (its own one-row table when none is given).

    Every update is the same IEEE operation as on six float attributes (``t += q * g``,
    each product rounded, then the sum), so the totals are bit-identical to the
    attribute-by-attribute version, whether a row is updated alone or with others."""

    __slots__ = ("row", "table")

    def __init__(self, table: TotalsTable | None = None) -> None:
        self.table = TotalsTable(1) if table is None else table
        self.row = self.table.take()

    def values(self) -> list[float]:
        """delta, gamma, vega, theta, vanna, volga (Python floats)."""
        self.table.settle()
        return self.table.arr[self.row].tolist()  # type: ignore[no-any-return]

    def set(self, values: Sequence[float]) -> None:
        self.table.settle()
        self.table.arr[self.row] = values

    def add(self, q: float, d: float, g: float, v: float, t: float, va: float = 0.0,
            vo: float = 0.0) -> None:
        x = self.values()
        self.table.arr[self.row] = (x[0] + q * d, x[1] + q * g, x[2] + q * v, x[3] + q * t,
                                    x[4] + q * va, x[5] + q * vo)


@dataclass(slots=True)
class OpenBreach:
    breach_id: str
    limit: float | None


@dataclass(slots=True)
class PendingIntent:
    intent_id: str
    instrument_id: str
    expires_us: int


@record
class Cause:
    """The record an output is attributed to: its id, its event time, and the output id's
    prefix (``exp`` for a record's own update, ``reval`` for a full revaluation)."""

    event_id: str
    ts: int
    tag: str = "exp"


class DirtyKeys:
    """The open window's dirty (book, underlying)s, each with the record that last
    dirtied it (a dict ``key → Cause`` to its readers).

    A quote dirties all of its instrument's holders (tens of keys) and a quote storm
    brings about one quote per instrument per window, so :meth:`mark_rows` marks them by
    their totals rows in one numpy step (the cause's number per row) instead of one dict
    entry each. The marks are folded into the dict, the latest cause of each key winning
    as if each had been set, before anything else reads or writes it, so every reader
    sees the same keys and causes as with the dict alone."""

    __slots__ = ("_causes", "_keys", "_marks", "_owners")

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], Cause] = {}
        self._marks = np.full(64, -1, dtype=np.int64)  # per totals row: a _causes index
        self._causes: list[Cause] = []  # the causes marked since the last fold
        self._owners: dict[int, tuple[str, str]] = {}  # totals row → its key

    def own(self, row: int, key: tuple[str, str]) -> None:
        """``key`` has taken totals row ``row`` (its marks go to ``key``)."""
        self._fold()
        if row >= len(self._marks):
            grown = np.full(max(2 * len(self._marks), row + 1), -1, dtype=np.int64)
            grown[:len(self._marks)] = self._marks
            self._marks = grown
        self._owners[row] = key

    def disown(self, row: int) -> None:
        self._fold()
        self._owners.pop(row, None)

    def mark_rows(self, rows: np.ndarray, cause: Cause) -> None:
        """Dirty the keys owning ``rows`` (distinct rows), with ``cause``."""
        causes = self._causes
        self._marks[rows] = len(causes)
        causes.append(cause)

    def _fold(self) -> None:
        if not self._causes:
            return
        marks, causes, owners, keys = self._marks, self._causes, self._owners, self._keys
        rows = np.flatnonzero(marks >= 0)
        for row, n in zip(rows.tolist(), marks[rows].tolist(), strict=True):
            keys[owners[row]] = causes[n]
        marks[rows] = -1
        self._causes = []

    def dict(self) -> dict[tuple[str, str], Cause]:
        """Every dirty key and its cause (the marks folded in)."""
        self._fold()
        return self._keys

    def __setitem__(self, key: tuple[str, str], cause: Cause) -> None:
        self.dict()[key] = cause

    def __contains__(self, key: object) -> bool:
        return key in self.dict()

    def __bool__(self) -> bool:
        return bool(self._causes) or bool(self._keys)

    def __len__(self) -> int:
        return len(self.dict())

    def get(self, key: tuple[str, str]) -> Cause | None:
        return self.dict().get(key)

    def pop(self, key: tuple[str, str], default: Cause | None = None) -> Cause | None:
        return self.dict().pop(key, default)

    def items(self) -> list[tuple[tuple[str, str], Cause]]:
        return list(self.dict().items())


@dataclass(slots=True)
class BookRisk:
    book: str
    underlying: str
    positions: dict[str, float] = field(default_factory=dict)
    live_positions: int = 0  # positions whose instrument is not expired
    totals: Totals = field(default_factory=Totals)
    breaches: dict[str, OpenBreach] = field(default_factory=dict)
    pending: PendingIntent | None = None
    last_emitted: tuple[float | int | bool | None, ...] | None = None
    risk_last: tuple[float | None, ...] | None = None  # fingerprint of the last risk_matrix
    risk_drift: float = 0.0  # trades' estimated scenario P&L since the matrix was computed
    risk_window_end: int | None = None  # end (µs) of the window its last matrix went out in

    @property
    def key(self) -> tuple[str, str]:
        return (self.book, self.underlying)


# The exposure numbers of a (book, underlying), stated once; the `exposure` event
# (core/events.py), the exposures table (history/rows.py), its as-of queries
# (history/asof.py) and the tools' tables (reports/tables.py) derive from these:
# the metrics stored and queried, the flags stored with them, and the extras of the event.
EXPOSURE_METRICS = ("delta", "delta_equity", "gamma", "vega", "theta", "delta_usd", "positions")
EXPOSURE_FLAGS = ("stale", "oracle_divergence")
EXPOSURE_EXTRAS = ("vanna", "volga", "funding_usd_per_day")
EXPOSURE_VALUES = (*EXPOSURE_METRICS, *EXPOSURE_FLAGS, *EXPOSURE_EXTRAS)


@record
class ExposureValues:
    """One (book, underlying)'s numbers at one moment (the body of an `exposure` event)."""

    book: str
    underlying: str
    delta: float
    delta_equity: float
    gamma: float
    vega: float
    theta: float
    delta_usd: float | None
    positions: int
    stale: bool = False
    oracle_divergence: bool = False
    vanna: float = 0.0
    volga: float = 0.0
    funding_usd_per_day: float = 0.0
    pnl: dict[str, float] | None = None  # as-of views only (replay, exposure --as-of)

    def as_tuple(self) -> tuple[float | int | bool | None, ...]:
        """The values of EXPOSURE_VALUES, in order."""
        return _values(self)

    def as_dict(self) -> dict[str, object]:
        return {
            "book": self.book,
            "underlying": self.underlying,
            **dict(zip(EXPOSURE_VALUES, _values(self), strict=True)),
            **({} if self.pnl is None else {"pnl": self.pnl}),
        }


_values = attrgetter(*EXPOSURE_VALUES)


def round_half_away(x: float) -> int:
    """Nearest whole number, halves away from zero (2.5 → 3, −2.5 → −3)."""
    n = int(abs(x) + 0.5)
    return n if x >= 0 else -n
