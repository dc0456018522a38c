"""Events to table rows: one column spec per table, one row builder per event type.

Row builders take plain mappings (a decoded JSON object or a pydantic model's
``__dict__``), so the Kafka sink (JSON in) and an embedded replay (models in)
share them. Times are epoch-µs ints, as inside the engine.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import orjson

from greekstream.core.books import EXPOSURE_FLAGS, EXPOSURE_METRICS
from greekstream.core.events import BOOK_TYPES, INPUT_TYPES, OUTPUTS, WINDOW_TICK
from greekstream.core.guards import MAX_TS_AHEAD_S, ahead_limit_us, too_far_ahead, ts_in_range
from greekstream.core.timeutil import TimestampError, parse_ts

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    time_columns: tuple[str, ...] = ("ts",)

    @property
    def compared(self) -> tuple[str, ...]:
        """The columns an audit compares: all but the transport's emission order."""
        return tuple(c for c in self.columns if c != "seq")

    def select_list(self, columns: tuple[str, ...] | None = None) -> str:
        """Columns as stored, times read back as epoch-µs ints."""
        return ", ".join(
            f"toUnixTimestamp64Micro({c}) AS {c}" if c in self.time_columns else f"`{c}`"
            for c in (columns or self.columns)
        )


RAW = Table(
    "raw_events",
    ("record_key", "event_id", "type", "ts", "arrival_ts", "book", "underlying",
     "instrument_id", "raw", "source", "stream", "partition", "seq", "decoded"),
    ("ts", "arrival_ts"),
)
# a risk matrix's scenarios as parallel arrays (core/events.py RiskMatrixEvent, 0022)
MATRIX_COLUMNS = ("price_shocks", "vol_shocks", "time_shift_h", "names", "pnl")
# ... and the key of each in a list-of-objects matrix (the event before issue 12, item 5)
_CELL_KEYS = ("price_shock", "vol_shock", "time_shift_h", "name", "pnl")
# output type -> its table's columns (the table's name is the registry's, core/events.py)
_COLUMNS: dict[str, tuple[str, ...]] = {
    "exposure": ("event_id", "ts", "book", "underlying", *EXPOSURE_METRICS, "caused_by",
                 *EXPOSURE_FLAGS, "seq"),
    "breach": ("event_id", "ts", "breach_id", "book", "underlying", "metric", "value", "limit",
               "state", "caused_by"),
    "hedge_intent": ("event_id", "ts", "intent_id", "book", "underlying", "instrument_id",
                     "side", "quantity", "delta_before", "delta_after", "basis", "caused_by",
                     "reference_price", "limit_price", "est_cost_usd", "expires_at"),
    "rejected": ("event_id", "ts", "has_ts", "reason", "detail", "source", "raw"),
    "risk_matrix": ("event_id", "ts", "book", "underlying", "worst_loss", *MATRIX_COLUMNS,
                    "json", "seq"),
    "pnl": ("event_id", "ts", "book", "underlying", "realized_usd", "unrealized_usd",
            "fees_usd", "funding_usd", "total_usd", "caused_by", "seq"),
    "var": ("event_id", "ts", "book", "var", "es", "json", "seq"),
    "intent_status": ("event_id", "ts", "intent_id", "book", "underlying", "instrument_id",
                      "state", "caused_by"),
    "regime": ("event_id", "ts", "underlying", "regime", "previous", "realized_vol",
               "implied_vol", "implied_instrument", "caused_by"),
}
_TIME_COLUMNS = {"hedge_intent": ("ts", "expires_at")}

OUTPUT_TABLES: dict[str, Table] = {
    name: Table(t.table, _COLUMNS[name], _TIME_COLUMNS.get(name, ("ts",)))
    for name, t in OUTPUTS.items()
}
EXPOSURES = OUTPUT_TABLES["exposure"]
# every output also goes here, whatever its type: its chain link and its JSON as produced
OUTPUT_CHAIN = Table(
    "output_chain", ("event_id", "type", "ts", "has_ts", "book", "prev", "hash", "record", "seq")
)
ALL_TABLES = (RAW, *OUTPUT_TABLES.values(), OUTPUT_CHAIN)


# The outputs of one input share its time: a parsed time is looked up, not re-parsed
# (the sink checks each output's times and builds its hash-chain row from them).
_parse_ts = lru_cache(maxsize=4096)(parse_ts)


def to_micros(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return _parse_ts(value)
        except TimestampError:
            return None
    return None


def storable_micros(value: Any) -> int | None:
    """A record's ts if the engine accepts it (core/guards.py: 1970..2105), else None: a
    record the engine rejects for its time is stored at its stream's clock, like one that
    does not decode, so no column ever holds a time ClickHouse would clamp."""
    ts = to_micros(value)
    return ts if ts_in_range(ts) else None


# ----------------------------------------------------------------------------- inputs

_KAFKA = re.compile(r"^(?P<stream>.+)/(?P<partition>\d+)/(?P<seq>\d+)$")
_FILE = re.compile(r"^(?P<stream>.+):(?P<seq>\d+)$")


class Location(NamedTuple):
    stream: str
    partition: int
    seq: int


def locate(source: str) -> Location:
    """Where a record came from: "TOPIC/PARTITION/OFFSET" or "FILE:LINE"."""
    match = _KAFKA.match(source)
    if match:
        return Location(match["stream"], int(match["partition"]), int(match["seq"]))
    match = _FILE.match(source)
    if match:
        return Location(match["stream"], 0, int(match["seq"]))
    return Location(source, 0, 0)


def input_micros(value: Any) -> int | None:
    """An input record's ts as the contract takes it (an RFC 3339 string, core/events.py
    ``Timestamp``) in the engine's range (core/guards.py: 1970..2105), else None. Not an
    integer: the engine rejects a record whose ts is a number, so history treats it as
    a record without a time (``to_micros`` takes one: it reads outputs)."""
    if type(value) is not str:
        return None
    try:
        ts = _parse_ts(value)
    except TimestampError:
        return None
    return ts if ts_in_range(ts) else None


# The record types whose ts moves the engine's market clock (core/engine.py: a record of
# the market scope, not a book's, other than the gateway's window ticks).
MARKET_TYPES = frozenset(INPUT_TYPES) - BOOK_TYPES


class ArrivalClocks:
    """The arrival clocks of the streams a writer stores (``raw_events.arrival_ts``, the
    replay order: docs/history.md, *Order*).

    A stream's clock is the running max of its records' ts, from ``floor`` (an append
    starts after what is stored), except that a record dated more than
    ``max_ts_ahead_s`` past the **market clock** moves no clock: the engine rejects
    such a book record (``ts_ahead``, core/guards.py ``too_far_ahead``) and it must not
    move every later record of its stream after the other streams' (one trade mistyped
    as 2099 made every later record of its Kafka partition replay after all others, and
    accepted trades became ``late_event`` in a history replay). The market clock mirrors
    the engine's: the largest ts of the market records stored (any type not keyed by a
    book, except the gateway's window ticks), across streams; market records are never
    held back, so after a gap market data moves the clocks on, as in the engine. Every
    other record (a book's, a window tick, one of an unknown type) is compared with it;
    none is before the first market record (as the engine) or with no limit (0)."""

    def __init__(self, max_ts_ahead_s: float = MAX_TS_AHEAD_S, floor: int = 0,
                 market: int | None = None) -> None:
        self.streams: dict[tuple[str, int], int] = {}
        self.floor = floor
        self.market = market
        self.ahead_us = ahead_limit_us(max_ts_ahead_s)

    def arrive(self, stream: tuple[str, int], ts: int | None, kind: Any,
               event_id: Any) -> int:
        """The clock of ``stream`` once a record (its ts, type and event id as read)
        arrived on it; moves the clocks."""
        clock = self.streams.get(stream, self.floor)
        if ts is None:
            return clock
        if type(kind) is str and kind in MARKET_TYPES and not (
                kind == "tick" and type(event_id) is str and event_id.startswith(WINDOW_TICK)):
            if self.market is None or ts > self.market:
                self.market = ts
        elif too_far_ahead(ts, self.market, self.ahead_us):
            return clock
        if ts > clock:
            clock = self.streams[stream] = ts
        return clock


def raw_row(raw: bytes | str, source: str, clocks: ArrivalClocks) -> Row:
    """A raw_events row (:func:`timed_raw_row`)."""
    return timed_raw_row(raw, source, clocks)[0]


def timed_raw_row(raw: bytes | str, source: str, clocks: ArrivalClocks) -> tuple[Row, bool]:
    """A raw_events row, and whether its ``ts`` is the record's own (False: its stream's
    clock stands in for it). ``clocks`` holds each stream's arrival clock (ArrivalClocks)
    and is advanced here; a record without a ts (none the contract accepts) takes its
    stream's clock as its ts. ``raw`` is stored as its bytes, whatever they hold (a
    String column holds bytes): a record that is not UTF-8 comes back as the engine saw
    it, not made valid JSON by replacing its bad bytes (the engine rejected it live; a
    replay from history accepted it)."""
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        obj = {}
    ts = input_micros(obj.get("ts"))
    kind = obj.get("type")
    decoded = ts is not None and isinstance(kind, str)
    where = locate(source)
    clock = clocks.arrive((where.stream, where.partition), ts, kind, obj.get("event_id"))
    return ((
        source,
        _s(obj.get("event_id")),
        kind if isinstance(kind, str) else "",
        ts if ts is not None else clock,
        clock,
        _s(obj.get("book")),
        _s(obj.get("underlying") or obj.get("base")),
        _s(obj.get("instrument_id")),
        data,
        source,
        where.stream,
        where.partition,
        where.seq,
        decoded,
    ), ts is not None)


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


# ----------------------------------------------------------------------------- outputs


def _exposure(e: Mapping[str, Any], seq: int) -> Row:
    return (
        e["event_id"], to_micros(e["ts"]), e["book"], e["underlying"], e["delta"],
        e["delta_equity"], e["gamma"], e["vega"], e["theta"], e.get("delta_usd"),
        e["positions"], e["caused_by"], bool(e.get("stale", False)),
        bool(e.get("oracle_divergence", False)), seq,
    )


def _breach(e: Mapping[str, Any], seq: int) -> Row:
    return (
        e["event_id"], to_micros(e["ts"]), e["breach_id"], e["book"], e["underlying"],
        e["metric"], e.get("value"), e.get("limit"), e["state"], e["caused_by"],
    )


def _hedge_intent(e: Mapping[str, Any], seq: int) -> Row:
    return (
        e["event_id"], to_micros(e["ts"]), e["intent_id"], e["book"], e["underlying"],
        e["instrument_id"], e["side"], e["quantity"], e["delta_before"], e["delta_after"],
        e.get("basis") or "positions", e["caused_by"], e.get("reference_price"),
        e.get("limit_price"), e.get("est_cost_usd"), to_micros(e.get("expires_at")),
    )


def _intent_status(e: Mapping[str, Any], seq: int) -> Row:
    return (
        e["event_id"], to_micros(e["ts"]), e["intent_id"], e["book"], e["underlying"],
        e["instrument_id"], e["state"], e["caused_by"],
    )


def _regime(e: Mapping[str, Any], seq: int) -> Row:
    return (
        e["event_id"], to_micros(e["ts"]), e["underlying"], e["regime"], e.get("previous"),
        e["realized_vol"], e.get("implied_vol"), e.get("implied_instrument"), e["caused_by"],
    )


def _rejected(e: Mapping[str, Any], seq: int) -> Row:
    ts = storable_micros(e.get("ts"))
    return (
        e["event_id"], ts or 0, ts is not None, e["reason"], e.get("detail") or "",
        e["source"], e["raw"],
    )


def matrix_columns(e: Mapping[str, Any]) -> tuple[list[Any], ...]:
    """A risk matrix's five columns (MATRIX_COLUMNS), from a columnar matrix or from one
    stored before it was columnar (``scenarios``: a list of objects, ``name`` omittable);
    empty lists when it has neither."""
    cells = e.get("scenarios")
    if isinstance(cells, list) and not isinstance(e.get("pnl"), list):
        return tuple([c.get(k) if isinstance(c, Mapping) else None for c in cells]
                     for k in _CELL_KEYS)
    return tuple(list(v) if isinstance(v := e.get(k), list) else [] for k in MATRIX_COLUMNS)


def columnar_matrix(e: Mapping[str, Any]) -> dict[str, Any]:
    """A risk matrix event's JSON object in today's columnar shape (one stored before
    issue 12, item 5 is converted: its ``scenarios`` become the five columns, in place)."""
    if "scenarios" not in e:
        return dict(e)
    columns = dict(zip(MATRIX_COLUMNS, matrix_columns(e), strict=True))
    out: dict[str, Any] = {}
    for key, value in e.items():
        if key == "scenarios":
            out.update(columns)
        else:
            out[key] = value
    return out


def _risk_matrix(e: Mapping[str, Any], body: bytes, seq: int) -> Row:
    worst = e.get("worst_loss")
    return (
        e["event_id"], to_micros(e["ts"]), _s(e.get("book")), _s(e.get("underlying")),
        float(worst) if isinstance(worst, int | float) else None, *matrix_columns(e),
        body.decode(), seq,
    )


def _pnl(e: Mapping[str, Any], seq: int) -> Row:
    return (
        e["event_id"], to_micros(e["ts"]), e["book"], e["underlying"], e["realized_usd"],
        e["unrealized_usd"], e["fees_usd"], e["funding_usd"], e["total_usd"], e["caused_by"],
        seq,
    )


def _var(e: Mapping[str, Any], body: bytes, seq: int) -> Row:
    return (e["event_id"], to_micros(e["ts"]), _s(e.get("book")), float(e["var"]),
            float(e["es"]), body.decode(), seq)


_BUILDERS: dict[str, Callable[[Mapping[str, Any], int], Row]] = {
    "exposure": _exposure,
    "breach": _breach,
    "hedge_intent": _hedge_intent,
    "rejected": _rejected,
    "pnl": _pnl,
    "intent_status": _intent_status,
    "regime": _regime,
}


def output_row(
    kind: str, fields: Mapping[str, Any], body: Callable[[], bytes], seq: int = 0
) -> Row:
    """The row of one output event; ``body`` gives its JSON (risk_matrix and var keep it);
    ``seq`` is its emission order (exposures, risk matrices and var keep it for ts ties)."""
    if kind == "risk_matrix":
        return _risk_matrix(fields, body(), seq)
    if kind == "var":
        return _var(fields, body(), seq)
    return _BUILDERS[kind](fields, seq)


def chain_row(fields: Mapping[str, Any], body: bytes, seq: int) -> Row | None:
    """The output_chain row of an output (None for one without a chain link). Its time
    is the one its table row takes (``storable_micros``: a rejection's ts is not checked,
    and one outside 1970..2105, or none, is no date in either row; the chain held it as
    dated 9999 or 1969, past what a TTL can take and counted in every day's report). An
    integer beyond Int64 stays: no column holds it, ClickHouse's client refuses the row
    and the record is quarantined (docs/history.md#quarantine)."""
    digest = fields.get("hash")
    if not isinstance(digest, str) or not digest:
        return None
    ts = to_micros(fields.get("ts"))
    if ts is not None and not ts_in_range(ts) and INT64[0] <= ts <= INT64[1]:
        ts = None
    return (
        _s(fields.get("event_id")), _s(fields.get("type")), ts or 0, ts is not None,
        _s(fields.get("book")), _s(fields.get("prev")), digest, body.decode(), seq,
    )


# ----------------------------------------------------------------------------- quarantine

# An output record that cannot become its rows is stored here instead (migration 0023):
# where it is, what could be read of it, why (a code of QUARANTINE_REASONS) and its bytes.
QUARANTINE = Table(
    "output_quarantine",
    ("topic", "partition", "offset", "type", "event_id", "reason", "message", "raw"),
    (),
)

# An input record whose raw_events row ClickHouse refuses for its data is stored here
# instead (migration 0024), the same columns (``reason`` is ``clickhouse_refused``).
INPUT_QUARANTINE = Table("input_quarantine", QUARANTINE.columns, ())

QUARANTINE_REASONS: dict[str, str] = {
    "not_json": "the record is not JSON (or not UTF-8)",
    "not_an_object": "the record is JSON but not an object",
    "missing_field": "a field its table needs is absent or null",
    "wrong_type": "a field's JSON type does not fit its column",
    "bad_time": "a time is not an RFC 3339 time in 1970..2105",
    "out_of_range": "an integer does not fit its column (Int64)",
    "bad_value": "a value its output cannot hold (a VaR's confidence outside (0, 1), no "
                 "scenario P&L, `scenarios` not the number of P&Ls, an amount over 1e300)",
    "unknown_type": "a JSON object whose `type` is no output type history stores",
    "duplicate_key": "a key is written twice in the record's object (parsers disagree on "
                     "which value holds: orjson takes the last, ClickHouse the first)",
    "unbuildable": "its row builder failed on it (the message is the builder's error)",
    "clickhouse_refused": "ClickHouse refused the row (the message is ClickHouse's)",
}


class Malformed(NamedTuple):
    """Why an output record cannot be stored as its rows: a QUARANTINE_REASONS code and
    a message naming the field."""

    reason: str
    message: str


class Quarantined(NamedTuple):
    """One quarantined output record: the row of ``output_quarantine``, as a tuple."""

    topic: str
    partition: int
    offset: int
    type: str
    event_id: str
    reason: str
    message: str
    raw: bytes


# What each column a row builder fills from a field needs (the column's type in
# schemas/clickhouse): S String, F Float64, I Int64, B Bool, T DateTime64 (an RFC 3339
# string), A Array(Float64), N Array(Nullable(String)), L a list of strings (in a stored
# output's JSON). Lower case: the field may be absent or null (a Nullable column, or one
# the builder defaults).
_FIELDS: dict[str, str] = {
    "exposure": "event_id:S ts:T book:S underlying:S delta:F delta_equity:F gamma:F vega:F "
                "theta:F delta_usd:f positions:I caused_by:S stale:b oracle_divergence:b",
    "breach": "event_id:S ts:T breach_id:S book:S underlying:S metric:S value:f limit:f "
              "state:S caused_by:S",
    "hedge_intent": "event_id:S ts:T intent_id:S book:S underlying:S instrument_id:S side:S "
                    "quantity:I delta_before:F delta_after:F basis:s caused_by:S "
                    "reference_price:f limit_price:f est_cost_usd:f expires_at:t",
    "rejected": "event_id:S reason:S detail:s source:S raw:S",
    "risk_matrix": "event_id:S ts:T book:s underlying:s price_shocks:a vol_shocks:a "
                   "time_shift_h:a names:n pnl:a",
    "pnl": "event_id:S ts:T book:S underlying:S realized_usd:F unrealized_usd:F fees_usd:F "
           "funding_usd:F total_usd:F caused_by:S",
    # the whole `var` output (schemas/output/var.json): the API draws its P&Ls (png)
    "var": "event_id:S ts:T book:S var:F es:F as_of:T confidence:F scenarios:I "
           "worst_date:S worst_pnl:F first_date:S last_date:S pnl:A unshocked:L caused_by:S",
    "intent_status": "event_id:S ts:T intent_id:S book:S underlying:S instrument_id:S "
                     "state:S caused_by:S",
    "regime": "event_id:S ts:T underlying:S regime:S previous:s realized_vol:F implied_vol:f "
              "implied_instrument:s caused_by:S",
}
_NONE = type(None)
_TYPES: dict[str, frozenset[type]] = {
    "S": frozenset((str,)), "F": frozenset((int, float)), "I": frozenset((int,)),
    "B": frozenset((bool,)), "T": frozenset((str,)), "A": frozenset((list,)),
    "N": frozenset((list,)), "L": frozenset((list,)),
}
_WHAT = {"S": "a string", "F": "a number", "I": "an integer", "B": "true or false",
         "T": "an RFC 3339 time string", "A": "a list of numbers",
         "N": "a list of strings or nulls", "L": "a list of strings"}
INT64 = (-(2**63), 2**63 - 1)


def field_spec(kind: str) -> list[tuple[str, str, bool]]:
    """(field, column code, required) of every field the row of ``kind`` is built from."""
    spec = []
    # every type's chain link: optional (an output from before hash chains has none), but
    # a string when given, or the record would be stored without its output_chain row
    for item in (_FIELDS[kind] + " prev:s hash:s").split():
        name, code = item.split(":")
        spec.append((name, code.upper(), code.isupper()))
    return spec


def _json_type(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


class _Check:
    """The check of one output type. Whether every field is present and of its column's
    type depends only on the fields' JSON types, so the answer for a tuple of types is
    worked out once, field by field, and remembered (a few shapes occur: a nullable
    field null or not, a number written as an integer): the common record costs one
    tuple of types and a set lookup. Times, integer ranges and array elements are
    checked on every record."""

    MEMORY = 256  # shapes remembered per type (a flood of odd shapes is still checked)

    def __init__(self, kind: str) -> None:
        self.spec = field_spec(kind)
        self.names = tuple(n for n, _, _ in self.spec)
        self.get = operator.itemgetter(*self.names)  # (a spec has at least 2 fields)
        self.good_shapes: set[tuple[type, ...]] = set()
        self.last_shape: tuple[type, ...] = ()
        self.times = tuple(n for n, c, _ in self.spec if c == "T")
        self.ints = tuple(n for n, c, _ in self.spec if c == "I")
        self.arrays = tuple((n, c) for n, c, _ in self.spec if c in "ANL")
        self.values = _VALUES.get(kind)

    def __call__(self, obj: Mapping[str, Any]) -> Malformed | None:
        try:
            shape = tuple(map(type, self.get(obj)))
        except KeyError:  # an optional field absent (a missing one is diagnosed)
            shape = tuple(map(type, map(obj.get, self.names)))
        if shape != self.last_shape and shape not in self.good_shapes:
            bad = self.diagnose(obj)
            if bad is not None:
                return bad
            if len(self.good_shapes) < self.MEMORY:
                self.good_shapes.add(shape)
        self.last_shape = shape
        for name in self.times:
            value = obj.get(name)
            if value is not None:
                try:
                    fits = ts_in_range(_parse_ts(value))
                except TimestampError:
                    fits = False
                if not fits:
                    return Malformed("bad_time", f"`{name}` {value[:60]!r} is not an RFC "
                                     "3339 time in 1970..2105")
        for name in self.ints:
            value = obj.get(name)
            if value is not None and not INT64[0] <= value <= INT64[1]:
                return Malformed("out_of_range", f"`{name}` {value} does not fit an Int64")
        for name, code in self.arrays:
            bad_item = _bad_element(obj.get(name), code)
            if bad_item is not None:
                return Malformed("wrong_type", f"`{name}` must be {_WHAT[code]}: "
                                 f"an element is {bad_item}")
        return self.values(obj) if self.values is not None else None

    def diagnose(self, obj: Mapping[str, Any]) -> Malformed | None:
        """The first field absent, null or of the wrong type, in the table's order."""
        for name, code, required in self.spec:
            value = obj.get(name)
            if value is None:
                if required:
                    what = "is null" if name in obj else "is missing"
                    return Malformed("missing_field", f"`{name}` {what}")
                continue
            if type(value) not in _TYPES[code]:
                return Malformed("wrong_type", f"`{name}` must be {_WHAT[code]}, "
                                 f"not {_json_type(value)}")
        return None


def _bad_element(value: Any, code: str) -> str | None:
    if not isinstance(value, list):
        return None
    allowed = _TYPES["F"] if code == "A" else _TYPES["S"] if code == "L" else frozenset(
        (str, _NONE))
    for item in value:
        if type(item) not in allowed:
            return _json_type(item) if item is not None else "null"
    return None


# A VaR's money (USD): finite in JSON, and kept far from the float range's end, so that
# differences of its P&Ls stay finite too (a histogram of [1e308, -1e308] spans inf). The
# engine's are far smaller (its inputs are at most 1e15 in size: core/guards.py).
VAR_MAX_USD = 1e300


def _var_values(e: Mapping[str, Any]) -> Malformed | None:
    """A `var` output's values (its fields' types are checked): what the engine computes
    always satisfies them (core/var.py), and the API draws the P&Ls."""
    confidence, pnl = e["confidence"], e["pnl"]
    if not 0.0 < confidence < 1.0:
        return Malformed("bad_value", f"`confidence` {confidence!r} is not strictly "
                         "between 0 and 1")
    if not pnl:
        return Malformed("bad_value", "`pnl` is empty: a VaR needs at least one scenario")
    if e["scenarios"] != len(pnl):
        return Malformed("bad_value", f"`scenarios` {e['scenarios']} is not the number of "
                         f"P&Ls in `pnl` ({len(pnl)})")
    for name in ("var", "es", "worst_pnl"):
        if abs(e[name]) > VAR_MAX_USD:
            return Malformed("bad_value", f"`{name}` {e[name]!r} is over {VAR_MAX_USD:g} "
                             "USD in size")
    if max(map(abs, pnl)) > VAR_MAX_USD:
        return Malformed("bad_value", f"a P&L in `pnl` is over {VAR_MAX_USD:g} USD in size")
    return None


# output type -> what its values must satisfy beyond their types (the last check)
_VALUES: dict[str, Callable[[Mapping[str, Any]], Malformed | None]] = {"var": _var_values}


# output type -> its check: None when the row of an output of that type can be built from
# a JSON object and stored (every field its table's columns take present, of its column's
# type, times in range), else why not. (A risk matrix's old ``scenarios`` shape is left
# to its builder, matrix_columns, and ClickHouse.)
CHECKS: dict[str, Callable[[Mapping[str, Any]], Malformed | None]] = {
    kind: _Check(kind) for kind in _FIELDS}


# One token of a JSON text for top_level_keys: a string, with the colon after it when it
# is a key; a container that holds no container (skipped whole); an opening bracket; a
# closing one. Numbers, literals, commas and blanks lie between tokens. Possessive
# quantifiers: a container that does hold one fails at its first bracket, no backtracking.
_STRING = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_TOKEN = re.compile(rb'(%s)[ \t\n\r]*+(:)?|[\[{](?:[^\[\]{}"]++|%s)*+[\]}]|([\[{])|[\]}]'
                    % (_STRING, _STRING))


def top_level_keys(body: bytes) -> list[bytes]:
    """The keys of a JSON object's members as written (escapes not decoded), in order,
    repeats included. ``body`` must be a JSON object (orjson has read it)."""
    keys: list[bytes] = []
    depth = 1
    for match in _TOKEN.finditer(body, body.index(b"{") + 1):
        key, colon, opening = match.groups()
        if key is not None:
            if colon is not None and depth == 1:
                keys.append(key)
        elif opening is not None:
            depth += 1
        elif match.end() - match.start() == 1:  # a closing bracket (else a flat container)
            depth -= 1
            if depth == 0:
                break
    return keys


_CONTAINERS = (list, dict)


def _commas_within(obj: Mapping[str, Any]) -> int:
    """Commas the bytes of ``obj``'s values hold at least: each list's or object's between
    its elements, each string's own (when no string escapes a character as \\uXXXX)."""
    within = 0
    for value in obj.values():
        kind = type(value)
        if kind is str:
            if "," in value:
                within += value.count(",")
        elif kind in _CONTAINERS and value:
            within += len(value) - 1
    return within


def repeated_key(body: bytes, obj: Mapping[str, Any]) -> Malformed | None:
    """``duplicate_key`` when a key is written twice in the object ``body`` (``obj`` is
    orjson's reading of it), else None.
    orjson keeps a repeated key's last value and ClickHouse's JSONEachRow its first (or
    refuses the row, depending on where the repeat stands), so such a record would be
    checked with one value and stored with another.

    Cheap for the records the engine writes: an object of n members has n - 1 commas
    between them, and its values hold the others, so ``commas - within + 1`` is at least
    the number of members written, where ``within`` counts the commas that ``obj``'s
    values (the last of each key) must hold. When that bound is ``len(obj)``, no key is
    written twice: an exposure needs one count of the bytes, a risk matrix or a rejection
    a pass over its values. Otherwise (commas nested deeper, \\u escapes, or a repeat) the
    members are counted exactly by :func:`top_level_keys`."""
    commas = body.count(b",")
    if commas + 1 == len(obj):
        return None
    if commas - _commas_within(obj) + 1 == len(obj) and (
            b"\\" not in body or b"\\u" not in body):  # (one byte is searched faster)
        return None
    keys = top_level_keys(body)
    if len(keys) == len(obj):
        return None
    seen: set[str] = set()
    for key in keys:
        name = orjson.loads(key)  # "\u0064elta" is "delta" to every parser
        if name in seen:
            return Malformed("duplicate_key", f"`{name[:60]}` is written twice; parsers "
                             "disagree on which value holds")
        seen.add(name)
    return None  # not reached: more keys written than read means one is repeated


def check_output(kind: str, obj: Mapping[str, Any]) -> Malformed | None:
    """Why an output of ``kind`` (a stored type) cannot be stored as its row, or None."""
    return CHECKS[kind](obj)


def output_problem(body: bytes) -> Malformed | None:
    """Why an output record cannot be stored as its rows, or None when it can (the
    writer's hot path takes the same steps inline: HistoryWriter.add_output_json)."""
    obj, bad = read_malformed(body)
    if bad is not None:
        return bad
    kind = obj.get("type")
    check = CHECKS.get(kind) if isinstance(kind, str) else None
    if check is None:
        return why_not_output(body)
    return check(obj) or repeated_key(body, obj)


def why_not_output(body: bytes) -> Malformed:
    """Why a record that is not a JSON object of a stored output type is not one."""
    obj, bad = read_malformed(body)
    if bad is not None:
        return bad
    kind = obj.get("type")
    if kind is None:
        return Malformed("missing_field", "`type` " + ("is null" if "type" in obj else
                                                       "is missing"))
    if not isinstance(kind, str):
        return Malformed("wrong_type", f"`type` must be a string, not {_json_type(kind)}")
    return Malformed("unknown_type", f"`type` {kind[:60]!r} is no output type history stores")


def read_malformed(body: bytes) -> tuple[Any, Malformed | None]:
    """An output record's JSON object, or why it is not one."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return None, Malformed("not_json", f"not JSON: {str(exc).splitlines()[0][:200]}")
    if not isinstance(obj, dict):
        return obj, Malformed("not_an_object", f"JSON {_json_type(obj)}, not an object")
    return obj, None
