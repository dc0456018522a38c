"""The event contract (docs/contract.md): typed, immutable pydantic models.

Input events arrive as JSON bytes and are decoded with :func:`decode_event`;
anything that fails becomes a :class:`DecodeError` with a machine-readable
``reason`` that the caller turns into a ``rejected`` output. Output events are
built by the engine with keyword arguments and encoded with :func:`encode`.

Inside the engine, every timestamp is an ``int`` of epoch microseconds
(see :mod:`greekstream.core.timeutil`); on the wire it is an RFC 3339 string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Generic, Literal, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from greekstream.core.timeutil import TimestampError, format_ts, parse_ts


def _to_micros(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("timestamp must be an RFC 3339 string")
    try:
        return parse_ts(value)
    except TimestampError as exc:
        raise ValueError(str(exc)) from exc


Timestamp = Annotated[
    int,
    BeforeValidator(_to_micros),
    PlainSerializer(format_ts, return_type=str, when_used="always"),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "description": "RFC 3339 UTC, up to microseconds"}
    ),
]

# Output events are built inside the engine from epoch-µs ints (no parsing on the hot path).
OutTimestamp = Annotated[
    int,
    PlainSerializer(format_ts, return_type=str, when_used="always"),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "description": "RFC 3339 UTC, up to microseconds"}
    ),
]
EventId = Annotated[str, Field(min_length=1, max_length=128)]
Name = Annotated[str, Field(min_length=1, max_length=128)]
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Finite = float  # finiteness is enforced by allow_inf_nan=False on every model


class _Event(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="ignore", strict=True, allow_inf_nan=False, ser_json_inf_nan="null"
    )

    event_id: EventId
    ts: Timestamp


class _OnChain(_Event):
    """Optional on-chain provenance: a `reorg` of `chain` from `block_number` retracts it."""

    chain: Name | None = None
    tx_hash: str | None = None
    block_number: Annotated[int, Field(ge=0)] | None = None
    log_index: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _block_needs_chain(self) -> _OnChain:
        if self.block_number is not None and self.chain is None:
            raise ValueError("block_number given without chain")
        return self


M = TypeVar("M", bound=BaseModel, covariant=True)


@dataclass(frozen=True)
class EventType(Generic[M]):
    """One event type and where it lives: the registry (INPUTS, OUTPUTS) is the one place
    its topic, history table and output file are named (docs/contract.md *Event types*)."""

    name: str
    model: type[M]
    topic: str  # Kafka topic suffix: greekstream.<topic>
    key: str = ""  # inputs: the field whose value is the Kafka record key
    table: str = ""  # outputs: the history table (every input goes to raw_events)
    file: str = ""  # outputs: the file of `replay --out`
    file_always: bool = False  # outputs: the file is written even when empty

    @property
    def direction(self) -> str:
        return "input" if self.key else "output"

    @property
    def book_keyed(self) -> bool:
        """An input that belongs to one book (keyed, partitioned and kept by book)."""
        return self.key == "book"


# ----------------------------------------------------------------------------- inputs


class Instrument(_Event):
    type: Literal["instrument"] = "instrument"
    instrument_id: Name
    kind: Literal["option", "future", "perpetual", "spot"]
    underlying: Name
    settlement: Literal["linear", "inverse"]
    contract_size: Positive
    expiry: Timestamp | None = None
    strike: Positive | None = None
    option_type: Literal["call", "put"] | None = None
    interval_h: Positive | None = None  # perpetuals: hours per funding interval (default 8)

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Instrument:
        if self.kind == "option":
            missing = [
                n for n in ("expiry", "strike", "option_type") if getattr(self, n) is None
            ]
            if missing:
                raise ValueError(f"an option needs {', '.join(missing)}")
        elif self.kind == "future" and self.expiry is None:
            raise ValueError("a future needs expiry")
        if self.kind == "spot" and self.settlement == "inverse":
            raise ValueError("spot is linear; inverse spot is not defined")
        return self


class Quote(_Event):
    type: Literal["quote"] = "quote"
    instrument_id: Name
    underlying_price: Positive | None = None
    mark_iv: Positive | None = None
    mark_price: Positive | None = None
    bid: NonNegative | None = None
    ask: NonNegative | None = None


class Index(_Event):
    type: Literal["index"] = "index"
    underlying: Name
    price: Positive
    source: Name | None = None


class Trade(_Event):
    type: Literal["trade"] = "trade"
    book: Name
    instrument_id: Name
    side: Literal["buy", "sell"]
    quantity: Positive
    price: Positive
    fee: NonNegative | None = None  # USD


class Funding(_Event):
    """A perpetual's funding rate for one interval; a long pays when ``rate`` > 0."""

    type: Literal["funding"] = "funding"
    instrument_id: Name
    rate: Finite


class Collateral(_OnChain):
    type: Literal["collateral"] = "collateral"
    book: Name
    asset: Name
    amount: Finite


class Reorg(_Event):
    type: Literal["reorg"] = "reorg"
    chain: Name
    from_block: Annotated[int, Field(ge=0)]


class Limits(_Event):
    type: Literal["limits"] = "limits"
    book: Name
    underlying: Name
    max_abs_delta: NonNegative | None = None
    max_abs_gamma: NonNegative | None = None
    max_abs_vega: NonNegative | None = None
    min_theta: Finite | None = None
    hedge_instrument: Name | None = None
    hedge_band: NonNegative | None = None
    hedge_target: Finite = 0.0
    hedge_basis: Literal["positions", "equity"] = "positions"
    hedge_timeout_s: Positive = 30.0
    min_liq_distance: NonNegative | None = None
    min_health_factor: Positive | None = None
    # a breach clears only once the value is back inside the limit by this fraction of it
    breach_hysteresis: Annotated[float, Field(ge=0, lt=1)] = 0.02
    # contract part 2: multiplies every max_abs_* limit and the hedge band while a regime holds
    regime_scale: dict[Literal["calm", "normal", "stressed"], Positive] | None = None
    # below 10,000 bps (100%): a sell intent's limit price, reference × (1 − slippage),
    # would be zero or negative, a price no venue takes
    hedge_slippage_bps: Annotated[float, Field(ge=0, lt=10_000)] = 10.0


class Margin(_Event):
    type: Literal["margin"] = "margin"
    book: Name
    underlying: Name
    equity: Finite
    maintenance_margin: NonNegative


class Loan(_OnChain):
    type: Literal["loan"] = "loan"
    book: Name
    position_id: Name
    protocol: Name
    collateral_asset: Name
    collateral_amount: NonNegative
    debt_asset: Name
    debt_amount: NonNegative
    liquidation_threshold: Annotated[float, Field(gt=0, lt=1)]
    liquidation_bonus: NonNegative
    close_factor: Annotated[float, Field(gt=0, le=1)]


class LpPosition(_OnChain):
    type: Literal["lp_position"] = "lp_position"
    book: Name
    position_id: Name
    pool: Name
    base: Name
    liquidity: NonNegative
    price_lower: Positive
    price_upper: Positive

    @model_validator(mode="after")
    def _range_ordered(self) -> LpPosition:
        if self.price_lower >= self.price_upper:
            raise ValueError("price_lower must be below price_upper")
        return self


class Tick(_Event):
    """Event time moving on with no market data: changes no state, closes the emission
    window its ts moves past (contract, part 2). Published by the gateway when its input is
    idle, and as a *window tick* (``event_id`` starting WINDOW_TICK) before a book record
    that moves past the window: that one stands for the record after it, so it closes the
    window and nothing else (no intent expires at it)."""

    type: Literal["tick"] = "tick"


WINDOW_TICK = "gs-window-"  # the id prefix of the gateway's window ticks (kafka/gateway.py)
# the prefix of an end-of-input tick's id (the gateway's gs-window-end-SEQ, a history
# replay's gs-window-end:STREAM:TS): it stands for the end of a file, closing everything
END_TICK = WINDOW_TICK + "end"


InputEvent = Annotated[
    Instrument | Quote | Index | Trade | Collateral | Reorg | Limits | Margin | Loan | LpPosition
    | Funding | Tick,
    Field(discriminator="type"),
]
# The facts about each input type, stated once: its model, its Kafka topic (suffix of
# greekstream.<topic>) and the field whose value is its record key. A type keyed by `book`
# is book-keyed: its book's state only, its topic co-partitioned with the other book topics.
INPUTS: Mapping[str, EventType[_Event]] = MappingProxyType({
    t.name: t for t in (
        EventType("instrument", Instrument, "instruments", "instrument_id"),
        EventType("quote", Quote, "quotes", "instrument_id"),
        EventType("index", Index, "index", "underlying"),
        EventType("trade", Trade, "trades", "book"),
        EventType("collateral", Collateral, "onchain", "book"),
        EventType("reorg", Reorg, "onchain", "chain"),  # copied to every partition: no book
        EventType("limits", Limits, "limits", "book"),
        EventType("margin", Margin, "margin", "book"),
        EventType("loan", Loan, "onchain", "book"),
        EventType("lp_position", LpPosition, "onchain", "book"),
        # market data, ordered with the perpetual's marks
        EventType("funding", Funding, "quotes", "instrument_id"),
        # event time moving on: market-wide (docs/contract.md, part 2)
        EventType("tick", Tick, "index", "event_id"),
    )
})
INPUT_TYPES: Mapping[str, type[_Event]] = MappingProxyType(
    {name: t.model for name, t in INPUTS.items()})
BOOK_TYPES = frozenset(name for name, t in INPUTS.items() if t.book_keyed)
ON_CHAIN_TYPES = ("collateral", "loan", "lp_position")

# ----------------------------------------------------------------------------- outputs


class _Output(BaseModel):
    # an output is always written whole (encode: every field, defaults too), so its
    # schema requires every field: a consumer validating a record missing one is told
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False,
                              json_schema_serialization_defaults_required=True)


# Every output record ends with its hash-chain link (core/chain.py): the previous record's
# hash in its chain and its own; the engine sets both as outputs leave it (the default
# "" is never published). A `rejected` record may have none: the gateway's rejections
# of lines it could not decode are no engine's output, so no chain holds them.
ChainLink = Annotated[str, Field(
    description="hash chain (SHA-256, 64 lower-case hex); see core/chain.py",
    pattern="^[0-9a-f]{64}$")]
RejectionLink = Annotated[str, Field(
    description="hash chain (SHA-256, 64 lower-case hex; empty on a rejection by the "
    "gateway, which no engine chained); see core/chain.py", pattern="^([0-9a-f]{64})?$")]
CHAIN_FIELDS = ("prev", "hash")


class Exposure(_Output):
    type: Literal["exposure"] = "exposure"
    event_id: str
    ts: OutTimestamp
    # the numbers of core/books.py ExposureValues, with their units for the schema's
    # readers (tests/unit/test_contract.py keeps the two lists the same)
    book: str
    underlying: str = Field(description="the underlying coin (BTC, ETH, ...)")
    delta: float = Field(description="coin: Σ position deltas (docs/contract.md, Greeks)")
    delta_equity: float = Field(description="coin: delta + the book's collateral in this coin")
    gamma: float = Field(description="coin per USD of forward move")
    vega: float = Field(description="USD per vol point (σ + 0.01)")
    theta: float = Field(description="USD per day")
    delta_usd: float | None = Field(
        description="USD: delta × the latest index price; null before the first index")
    positions: int = Field(
        description="instruments held and not expired, + loans and LPs touching this coin")
    caused_by: str = Field(description="event_id of the input that produced it")
    stale: bool = Field(False, description="the index is older than oracle_max_age_s")
    oracle_divergence: bool = Field(False, description="the index's sources disagree")
    vanna: float = Field(0.0, description="coin per vol point: ∂delta/∂σ")
    volga: float = Field(0.0, description="USD per vol point²: ∂vega/∂σ")
    funding_usd_per_day: float = Field(
        0.0, description="USD per day the perpetuals receive at their last rates (< 0: pay)")
    prev: ChainLink = ""
    hash: ChainLink = ""


class Pnl(_Output):
    """A (book, underlying)'s mark-to-market P&L in USD (docs/contract.md *Mark-to-market P&L*)."""

    type: Literal["pnl"] = "pnl"
    event_id: str
    ts: OutTimestamp
    book: str
    underlying: str
    realized_usd: float
    unrealized_usd: float
    fees_usd: float
    funding_usd: float
    total_usd: float
    caused_by: str
    prev: ChainLink = ""
    hash: ChainLink = ""


BreachMetric = Literal[
    "delta", "gamma", "vega", "theta", "liq_distance", "health_factor", "oracle"
]


class Breach(_Output):
    type: Literal["breach"] = "breach"
    event_id: str
    ts: OutTimestamp
    breach_id: str
    book: str
    underlying: str
    metric: BreachMetric
    value: float | None
    limit: float | None
    state: Literal["open", "cleared"]
    caused_by: str
    prev: ChainLink = ""
    hash: ChainLink = ""


class _IntentOutput(_Output):
    """What every record of a hedge intent's life starts with (docs/execution.md); the
    subclass narrows ``type``, which keeps its place first in the record."""

    type: str
    event_id: str
    ts: OutTimestamp
    intent_id: str
    book: str
    underlying: str
    instrument_id: str


class HedgeIntent(_IntentOutput):
    type: Literal["hedge_intent"] = "hedge_intent"
    side: Literal["buy", "sell"]
    quantity: int
    delta_before: float
    delta_after: float
    basis: Literal["positions", "equity"]
    caused_by: str
    reference_price: float | None = None
    limit_price: float | None = None
    est_cost_usd: float | None = None
    expires_at: OutTimestamp | None = None
    prev: ChainLink = ""
    hash: ChainLink = ""


class IntentStatus(_IntentOutput):
    """How a hedge intent closed; every intent gets exactly one (docs/execution.md)."""

    type: Literal["intent_status"] = "intent_status"
    state: Literal["filled", "expired", "superseded"]
    caused_by: str
    prev: ChainLink = ""
    hash: ChainLink = ""


class Regime(_Output):
    """An underlying's volatility regime changed (docs/regimes.md)."""

    type: Literal["regime"] = "regime"
    event_id: str
    ts: OutTimestamp
    underlying: str
    regime: Literal["calm", "normal", "stressed"]
    previous: Literal["calm", "normal", "stressed"] | None
    realized_vol: float
    implied_vol: float | None
    implied_instrument: str | None
    caused_by: str
    prev: ChainLink = ""
    hash: ChainLink = ""


RejectReason = Literal[
    "invalid_json",
    "not_an_object",
    "unknown_type",
    "invalid_event",
    "unknown_instrument",
    "missing_quote_field",
    "unknown_asset",
    "inconsistent_event",
    "ts_out_of_range",
    "value_out_of_range",
    "non_finite_result",
    "late_event",
    "ts_ahead",
    "stale_quote",
    "internal_error",
]


class Rejected(_Output):
    type: Literal["rejected"] = "rejected"
    event_id: str
    ts: OutTimestamp | None
    reason: RejectReason
    detail: str
    source: str
    raw: str
    prev: RejectionLink = ""
    hash: RejectionLink = ""


class ScenarioPnl(_Output):
    """One scenario of a risk matrix and its P&L in USD (``name`` for named stress sets):
    a matrix's ``worst_scenario``."""

    price_shock: float
    vol_shock: float
    time_shift_h: float
    pnl: float
    name: str | None = None


# A risk matrix's cells are columns (issue 12, item 5; docs/contract.md): parallel arrays
# of one length n, cell i = (price_shocks[i], vol_shocks[i], time_shift_h[i], names[i],
# pnl[i]) in the grid's order; a name is null for a grid cell, set for a named scenario.
Column = Annotated[list[float], Field(min_length=1)]


class RiskMatrixEvent(_Output):
    """A (book, underlying)'s full-revaluation scenario P&L and liquidation distance. The
    scenarios are columns of one length n: scenario i is (price_shocks[i], vol_shocks[i],
    time_shift_h[i], names[i], pnl[i]), in the grid's order; names[i] is null for a grid
    cell and the scenario's name for a named stress scenario; pnl in USD."""

    type: Literal["risk_matrix"] = "risk_matrix"
    event_id: str
    ts: OutTimestamp
    book: str
    underlying: str
    as_of: OutTimestamp
    price_shocks: Column
    vol_shocks: Column
    time_shift_h: Column
    names: Annotated[list[str | None], Field(min_length=1)]
    pnl: Column
    worst_loss: float
    worst_scenario: ScenarioPnl
    liq_move_down: float | None
    liq_move_up: float | None
    liq_price_down: float | None
    liq_price_up: float | None
    caused_by: str
    prev: ChainLink = ""
    hash: ChainLink = ""

    @model_validator(mode="after")
    def _one_length(self) -> RiskMatrixEvent:
        columns = (self.price_shocks, self.vol_shocks, self.time_shift_h, self.names, self.pnl)
        if len({len(c) for c in columns}) != 1:
            raise ValueError("price_shocks, vol_shocks, time_shift_h, names and pnl must have "
                             "one length (one item per scenario)")
        return self


class VarEvent(_Output):
    """A book's historical VaR and expected shortfall over every underlying (docs/contract.md,
    *Historical VaR and expected shortfall*); ``unshocked`` names the held underlyings
    (not stablecoins) that the returns file does not cover, left unmoved."""

    type: Literal["var"] = "var"
    event_id: str
    ts: OutTimestamp
    book: str
    as_of: OutTimestamp
    confidence: float
    scenarios: int
    var: float
    es: float
    worst_date: str
    worst_pnl: float
    first_date: str
    last_date: str
    pnl: list[float]  # one per historical day, in the returns file's date order
    unshocked: list[str]
    caused_by: str
    prev: ChainLink = ""
    hash: ChainLink = ""


# The facts about each output type, stated once: its model, its Kafka topic (outputs are
# keyed by book, market-wide ones by underlying or stream), its history table and its file
# in `replay --out` (always written, or only when the engine emitted one). The names are
# stored data and deployments: never rename one here without a migration.
OUTPUTS: Mapping[str, EventType[_Output]] = MappingProxyType({
    t.name: t for t in (
        EventType("exposure", Exposure, "exposures", table="exposures",
                  file="exposures.jsonl", file_always=True),
        EventType("breach", Breach, "breaches", table="breaches", file="breaches.jsonl",
                  file_always=True),
        EventType("hedge_intent", HedgeIntent, "hedge-intents", table="hedge_intents",
                  file="hedge_intents.jsonl", file_always=True),
        EventType("rejected", Rejected, "rejected", table="rejections", file="rejected.jsonl",
                  file_always=True),
        EventType("risk_matrix", RiskMatrixEvent, "risk", table="risk_matrix",
                  file="risk_matrices.jsonl"),
        EventType("pnl", Pnl, "pnl", table="pnl", file="pnl.jsonl", file_always=True),
        EventType("var", VarEvent, "var", table="var", file="var.jsonl"),
        # on the intents' own topic, keyed by book: an intent and its status stay in order
        EventType("intent_status", IntentStatus, "hedge-intents", table="intent_status",
                  file="intent_status.jsonl"),
        EventType("regime", Regime, "regimes", table="regimes", file="regime.jsonl"),
    )
})
OUTPUT_TYPES: Mapping[str, type[_Output]] = MappingProxyType(
    {name: t.model for name, t in OUTPUTS.items()})
REGISTRY: Mapping[str, EventType[Any]] = MappingProxyType({**INPUTS, **OUTPUTS})


def topics_of(types: Iterable[EventType[Any]]) -> tuple[str, ...]:
    """The distinct topics of these types, in registry order."""
    return tuple(dict.fromkeys(t.topic for t in types))


_set_attr = object.__setattr__
_REQUIRED = object()
OutputModel = TypeVar("OutputModel", bound=BaseModel)
# a model's fields in order with their defaults (_REQUIRED if none), and the order of
# the fields :func:`build` takes on its fast path (``type`` and the chain link left out)
_Spec = tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]


def _spec(cls: type[BaseModel]) -> _Spec:
    # field order matters: the serializer writes __dict__ in its order
    fields = tuple((name, _REQUIRED if f.is_required() else f.default)
                   for name, f in cls.model_fields.items())
    return fields, tuple(name for name, _ in fields
                         if name != "type" and name not in CHAIN_FIELDS)


def _models(base: type[BaseModel]) -> list[type[BaseModel]]:
    """``base``'s subclasses at every depth (HedgeIntent is one below _IntentOutput)."""
    return [c for sub in base.__subclasses__() for c in (sub, *_models(sub))]


# every output model's spec (the registry's and the ones nested in them), built once
_SPECS: Mapping[type[BaseModel], _Spec] = MappingProxyType(
    {cls: _spec(cls) for cls in _models(_Output)})


def build(cls: type[OutputModel], **fields: Any) -> OutputModel:
    """An output event from values the engine computed, without re-validating them.

    The engine's outputs are built from its own typed state (finite floats, ints,
    strings it checked on the way in); validating them again costs more than the
    arithmetic that made them. This is ``model_construct`` without its per-field
    loop (a test checks that every output type encodes byte for byte as a validated
    one). Fields given in model order (``type`` left out) take the fast path.
    """
    try:
        spec, order = _SPECS[cls]
    except KeyError:  # not an output model: its spec is read each time
        spec, order = _spec(cls)
    if tuple(fields) == order:
        values = {"type": spec[0][1], **fields} if spec[0][0] == "type" else dict(fields)
        if spec[-1][0] == "hash":
            values["prev"] = values["hash"] = ""
    else:
        values = {name: fields.get(name, default) for name, default in spec}
        if _REQUIRED in values.values():
            missing = [n for n, v in values.items() if v is _REQUIRED]
            raise TypeError(f"{cls.__name__}: missing fields {missing}")
    m = cls.__new__(cls)
    _set_attr(m, "__dict__", values)
    _set_attr(m, "__pydantic_fields_set__", set(fields))
    _set_attr(m, "__pydantic_extra__", None)
    _set_attr(m, "__pydantic_private__", None)
    return m


# ----------------------------------------------------------------------------- codec

_INPUT_ADAPTER: TypeAdapter[Any] = TypeAdapter(InputEvent)


# the reasons of a record rejected before it reached the engine's handlers
DECODE_REASONS = frozenset(("invalid_json", "not_an_object", "unknown_type", "invalid_event"))


class DecodeError(Exception):
    """A record that is not a valid input event; ``reason`` is machine-readable."""

    def __init__(self, reason: RejectReason, detail: str, ts: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RejectReason = reason
        self.detail = detail
        self.ts = ts


# An input record must fit in one Kafka record (1 MB by default) with its headers: a
# longer one is rejected here, in a file replay as at the gateway (docs/contract.md)
MAX_RECORD_BYTES = 900_000


def record_too_long(raw: bytes | str) -> DecodeError | None:
    """The rejection of a record over MAX_RECORD_BYTES (UTF-8), or None."""
    if len(raw) <= MAX_RECORD_BYTES // 4:
        return None
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size <= MAX_RECORD_BYTES:
        return None
    return DecodeError("invalid_event", f"the record is {size:,} bytes; an input record may "
                       f"have at most {MAX_RECORD_BYTES:,} (one Kafka record)")


def decode_event(raw: bytes | str) -> Any:
    """Decode one JSON record into an input event, or raise :class:`DecodeError`."""
    too_long = record_too_long(raw)
    if too_long is not None:
        raise too_long
    return decode_stored(raw)


def decode_stored(raw: bytes | str) -> Any:
    """Decode an input event the engine wrote back itself with :func:`encode_input` (a
    snapshot's limits and on-chain events): :func:`decode_event` without the wire's size
    limit. Re-encoded, a record accepted at MAX_RECORD_BYTES can come out a few bytes longer
    (an integer ``1`` is written ``1.0``), and refusing it then made its checkpoint
    impossible to restore."""
    try:
        return _INPUT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise _explain(raw, exc) from exc


def _explain(raw: bytes | str, exc: ValidationError) -> DecodeError:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as jexc:
        return DecodeError("invalid_json", f"not valid JSON: {jexc}")
    if not isinstance(obj, dict):
        return DecodeError("not_an_object", "a record must be a JSON object")
    ts = _maybe_ts(obj.get("ts"))
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in INPUT_TYPES:  # [] or {} is unhashable
        return DecodeError(
            "unknown_type", f"type {kind!r} is not one of {sorted(INPUT_TYPES)}", ts
        )
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'][1:]) or '(record)'}: {err['msg']}"
        for err in exc.errors(include_url=False)
    )
    return DecodeError("invalid_event", problems, ts)


def _maybe_ts(value: Any) -> int | None:
    try:
        return _to_micros(value)
    except ValueError:
        return None


def encode(event: BaseModel) -> bytes:
    """One output or input event as compact JSON bytes (no trailing newline)."""
    return event.__pydantic_serializer__.to_json(event)


def encode_input(event: Any) -> bytes:
    """An input event back to its wire form (used by the gateway and history); a
    fast-decoded Struct (core/decode.py) is encoded through its model."""
    model = event if isinstance(event, BaseModel) else event.as_model()
    return model.__pydantic_serializer__.to_json(model, exclude_none=True)
