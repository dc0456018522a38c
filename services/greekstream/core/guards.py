"""The engine's door and its safety net: no record can crash it or corrupt its state.

Two layers (docs/streaming.md, "No record can crash the engine"):

1. **Validate first** (:func:`check_event`): before any state changes, an event whose
   time the engine cannot represent, or whose numbers would drive an output to
   infinity, is rejected (``ts_out_of_range``, ``value_out_of_range``).
2. **Undo on anything else** (:class:`Journal`): an event that still fails while being
   applied (an unexpected exception: ``internal_error``; an output that is not finite:
   ``non_finite_result``) is rolled back. The journal keeps a snapshot and the events
   applied since; rolling back restores the snapshot and re-applies them without
   emitting, so the state is exactly the one before the failing event (the engine is
   deterministic). This costs one snapshot per 20,000 events or more (a bigger state
   less often: :class:`Journal`) on the happy path and nothing per event beyond a list
   append.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from msgspec.structs import astuple

from greekstream.core.timeutil import format_ts, parse_ts

# Event times the engine accepts: the ClickHouse DateTime64 range the history stores
# (1970..2106) less a margin, and always formattable (RFC 3339 needs years 1..9999).
MIN_TS_US = 0  # 1970-01-01T00:00:00Z
MAX_TS_US = parse_ts("2105-12-31T23:59:59.999999Z")
TS_RANGE_TEXT = "1970-01-01T00:00:00Z..2105-12-31T23:59:59.999999Z"
# Input numbers: |x| <= MAX_MAGNITUDE, and a non-zero x at least MIN_MAGNITUDE in size
# (a price of 1e-320 divides to infinity). Products and sums of a few such numbers, as
# the Greeks, scenarios and loans take them, stay far inside the float range.
MAX_MAGNITUDE = 1e15
MIN_MAGNITUDE = 1e-12
# How far past the market's clock (the largest ts of a market record applied) a book
# record may be dated (engine setting ``max_ts_ahead_s``; 0: no limit). One trade dated
# years ahead (a mistyped year) would otherwise move the engine's clock there: no emission
# window would close until then (lateness is the market's clock's: EngineState.dedup_clock). Market
# data is the clock itself and is not compared: after a gap it moves the clock on.
# A year and a day: past any gap a hand-made scenario leaves (an option held to its
# expiry a year out), short of the mistyped decade or century. docs/streaming.md.
MAX_TS_AHEAD_S = 366 * 86_400.0
# Engine intervals (seconds: revaluation, risk, VaR, oracle age, dedup window; the emission
# window in ms): at least a microsecond, the clock's unit (less divided by zero), and at
# most ~31,700 years (a boundary past 2**63 µs broke snapshots). settings.py holds to them.
MIN_INTERVAL_S, MAX_INTERVAL_S = 1e-6, 1e12
# Thresholds compared with outputs, never multiplied: any non-negative size is fine.
_THRESHOLD_PREFIXES = ("max_abs_", "min_")
_TIME_FIELDS = ("ts", "expiry")


class GuardError(Exception):
    """An event refused at the door; ``reason`` is machine-readable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def ts_in_range(ts: int | None) -> bool:
    return ts is not None and MIN_TS_US <= ts <= MAX_TS_US


def event_fields(event: Any) -> Iterable[tuple[str, Any]]:
    """(name, value) of an event's fields, for pydantic models and plain objects alike."""
    names = _struct_fields(type(event))
    if names is not None:  # hot (every fast-decoded input): its values in one C call
        return zip(names, astuple(event), strict=True)
    fields: dict[str, Any] = vars(event)
    return fields.items()


# Whole numbers (block numbers, log indices): what an Int64 column and a snapshot's JSON
# hold (a larger one came back from a snapshot as a float, which a restore refused).
MAX_INT = 2**63 - 1


def check_event(event: Any) -> None:
    """Raise :class:`GuardError` if applying ``event`` could break the engine's range."""
    for name, value in event_fields(event):
        kind = type(value)
        if kind is float:
            if not MIN_MAGNITUDE <= abs(value) <= MAX_MAGNITUDE:  # (hot: the common case inline)
                _check_float(name, value)  # zero, a threshold, or out of range
        elif kind is int:
            if name in _TIME_FIELDS:
                if not ts_in_range(value):
                    raise GuardError("ts_out_of_range",
                                     f"{name} is outside the accepted range {TS_RANGE_TEXT}")
            elif not -MAX_INT <= value <= MAX_INT:
                raise GuardError("value_out_of_range",
                                 f"{name}={value}: above {MAX_INT} (2^63 - 1) in size, more "
                                 "than the history's Int64 columns hold")
        elif kind is dict:  # (limits' regime_scale: a number per regime)
            for key, item in value.items():
                if type(item) is float:
                    _check_float(f"{name}.{key}", item)


def _check_float(name: str, value: float) -> None:
    size = abs(value)
    if size > MAX_MAGNITUDE or not math.isfinite(value):
        raise GuardError("value_out_of_range",
                         f"{name}={value!r}: |{name}| above {MAX_MAGNITUDE:g} would "
                         "make outputs non-finite")
    if 0.0 < size < MIN_MAGNITUDE and not name.startswith(_THRESHOLD_PREFIXES):
        raise GuardError("value_out_of_range",
                         f"{name}={value!r}: a non-zero size below {MIN_MAGNITUDE:g} "
                         "would make outputs non-finite")


def ahead_limit_us(seconds: float) -> int:
    """max_ts_ahead_s in µs: 0 (no limit), or at least one µs (never no limit by rounding)."""
    if not 0 <= seconds < math.inf:
        raise ValueError(f"max_ts_ahead_s must be 0 (no limit) or a number of seconds, "
                         f"not {seconds!r}")
    return max(round(seconds * 1e6), 1) if seconds else 0


def too_far_ahead(ts: int, market_clock: int | None, limit_us: int) -> bool:
    """Whether ``ts`` (a book record's) is more than ``limit_us`` past the market's clock
    (``ts_ahead``); never before the first market record, nor with no limit (0). The
    gateway asks too, so that such a record opens no window there (kafka/gateway.py)."""
    return bool(limit_us) and market_clock is not None and ts - market_clock > limit_us


def ahead_detail(ts: int, market_clock: int, limit_s: float) -> str:
    """The ``detail`` of a ``ts_ahead`` rejection: what was compared and what to do."""
    return (f"ts {format_ts(ts)} is {_span((ts - market_clock) / 1e6)} past the market's "
            f"clock {format_ts(market_clock)} (the latest market data), more than "
            f"max_ts_ahead_s ({_span(limit_s)}): a mistyped date would make every later "
            "record late; fix the record's ts, or raise GREEKSTREAM_ENGINE__MAX_TS_AHEAD_S "
            "if the book really is that far ahead of its market data")


def _span(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:,.1f} days"
    return f"{seconds:,.6g} s"


def first_non_finite(outputs: Iterable[Any]) -> str | None:
    """The first output field (``type.field``) that is not a finite number, or None."""
    for out in outputs:
        bad = _non_finite_field(out)
        if bad is not None:
            return f"{out.type}.{bad}"
    return None


def _non_finite_field(obj: Any) -> str | None:
    # hot: every output of every record passes here; floats, ints, strings, None and
    # bools are the common values and need one type lookup each
    for name, value in event_fields(obj):
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # inf - inf and nan - nan are nan
                return name
        elif kind in _PLAIN:
            continue
        elif kind is list:
            if _non_finite_item(value):
                return name
        elif _is_record(kind) and _non_finite_field(value) is not None:
            return name
    return None


def _non_finite_item(items: list[Any]) -> bool:
    """A list's floats (a risk matrix's columns, a VaR's P&L) and records, checked alike."""
    for v in items:
        kind = type(v)
        if kind is float:
            if v - v != 0.0:
                return True
        elif kind not in _PLAIN and _is_record(kind) and _non_finite_field(v) is not None:
            return True
    return False


_PLAIN = frozenset((str, int, bool, type(None)))


def _has_fields(kind: type) -> bool:
    """Whether values of ``kind`` have fields of their own to check (a msgspec Struct or a
    pydantic model)."""
    return hasattr(kind, "__struct_fields__") or hasattr(kind, "model_fields")


def _fields_of_struct(kind: type) -> tuple[str, ...] | None:
    """A msgspec Struct type's field names; None for anything else (a pydantic model's
    fields are its instance ``__dict__``). Asked of the type, not the instance: a missing
    attribute on a pydantic model goes through its slow ``__getattr__``."""
    names: tuple[str, ...] | None = getattr(kind, "__struct_fields__", None)
    return names


# memoised, bounded: a few types ever come by
_is_record: Callable[[type], bool] = lru_cache(maxsize=256)(_has_fields)
_struct_fields: Callable[[type], tuple[str, ...] | None] = lru_cache(maxsize=256)(
    _fields_of_struct)


class Journal:
    """A snapshot and the inputs applied since: enough to rebuild the state exactly.

    A snapshot takes time in proportion to the state's size (about 115 ms for the 8.7 MB
    of the ``market`` sample), so a bigger state takes one less often: after ``every``
    inputs, or one input per ``bytes_per_input`` bytes of the last snapshot if that is
    more, at most ``most``: the inputs kept are memory (about 300 bytes each), and a
    rollback re-applies them (100,000 `market` records take about 6 s, well inside a
    Kafka transaction's timeout; a rollback then takes a new snapshot, so a second one
    soon after re-applies only what came between). The snapshot's share of each input's
    time stays about the same at any size.
    How often has no effect on outputs: a rollback rebuilds the same state either way."""

    def __init__(self, every: int = 20_000, bytes_per_input: int = 100,
                 most: int = 100_000) -> None:
        self.every, self.bytes_per_input, self.most = every, bytes_per_input, most
        self.base: bytes | None = None
        self.entries: list[tuple[Any, str, bytes | str | None]] = []
        self.limit = every

    def due(self) -> bool:
        """True when a fresh snapshot should be taken before the next event."""
        return self.base is None or len(self.entries) >= self.limit

    def start(self, base: bytes) -> None:
        self.base = base
        self.entries = []
        self.limit = min(max(self.every, len(base) // self.bytes_per_input),
                         max(self.every, self.most))

    def reset(self) -> None:
        """The state changed outside ``apply`` (a restore): take a new base next time."""
        self.base = None
        self.entries = []


# A rejection carries at most this many characters of its record: encoded as JSON (at
# most 6 bytes a character) it stays well under the 1 MB a Kafka record may have by
# default, so one oversized poison record cannot stop the processor or the gateway
# (MSG_SIZE_TOO_LARGE). The whole record stays in its input topic and in raw_events.
RAW_KEEP_CHARS = 65_536


DETAIL_KEEP_CHARS = 1_000  # a rejection's detail can quote the record (a bad type, keys)


def clip_detail(detail: str) -> str:
    """A rejection's ``detail``: whole, or its first DETAIL_KEEP_CHARS characters."""
    if len(detail) <= DETAIL_KEEP_CHARS:
        return detail
    return f"{detail[:DETAIL_KEEP_CHARS]}... [clipped: {len(detail):,} characters in all]"


def clip_raw(text: str) -> str:
    """A rejected record's text for its ``raw``: whole, or its first RAW_KEEP_CHARS
    characters and a note of its length in characters and the SHA-256 of the text's UTF-8
    (invalid bytes of the record replaced; docs/contract.md, `rejected`)."""
    if len(text) <= RAW_KEEP_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return (f"{text[:RAW_KEEP_CHARS]}... [clipped: {len(text):,} characters in all, "
            f"sha256 {digest}]")


def describe(exc: BaseException) -> str:
    """An exception as one line of text for a rejection's ``detail``."""
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:1000]
