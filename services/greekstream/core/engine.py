"""The engine: one ``apply`` for every runtime (file replay, Kafka processor, history replay).

    engine = Engine(EngineConfig())
    for raw, source in records:
        outputs = engine.handle(raw, source)   # exposures, breaches, hedge intents, rejections

Each handler validates first (raising :class:`Rejection`, which changes nothing),
then mutates state, then reports what changed. Event time is the only clock.

State lives in :class:`~greekstream.core.state.EngineState` (``engine.state``; the
engine's attributes of the same names read and write it); the engine is behaviour.

Emission windows (contract part 2, ``emit_interval_ms`` E > 0; docs/engine.md): market records
(quote, index, instrument, the periodic full revaluation) mark the (book, underlying)s
they move dirty instead of emitting; the window [k·E, (k+1)·E) closes when a record of a
later window arrives (before it is applied), or at :meth:`Engine.flush`, and every dirty
key then emits one exposure (sorted key order, ``ts``/``caused_by`` of the record that
last dirtied it) followed by its v1 checks. Book records emit their keys at once. With
E = 0 every record emits at once, exactly as v1.

A processor runs with ``windows_per_book``: there the window is each book's own, closed
by the records its owner sees (any market record, or one of that book's), so where a
key's close lands does not depend on which instance owns which books (docs/streaming.md,
*Emission windows across instances*).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from greekstream.core import dedup, guards, onchain_state, snapshot
from greekstream.core.books import (
    FLAT,
    BookRisk,
    Cause,
    ExposureValues,
    OpenBreach,
    PendingIntent,
    round_half_away,
)
from greekstream.core.chain import Chains
from greekstream.core.decode import decode_event
from greekstream.core.events import (
    BOOK_TYPES,
    END_TICK,
    ON_CHAIN_TYPES,
    WINDOW_TICK,
    Breach,
    Collateral,
    DecodeError,
    Exposure,
    Funding,
    HedgeIntent,
    Index,
    Instrument,
    IntentStatus,
    Limits,
    Loan,
    LpPosition,
    Margin,
    Pnl,
    Quote,
    Regime,
    Rejected,
    RejectReason,
    Reorg,
    RiskMatrixEvent,
    Tick,
    Trade,
    VarEvent,
    build,
    encode_input,
)
from greekstream.core.greeks import black76_scalar
from greekstream.core.intents import IntentTracker, policy, price_intent
from greekstream.core.onchain import lowest_health_factor
from greekstream.core.oracle import DEFAULT_SOURCE, OracleConfig, OracleState, OracleStatus
from greekstream.core.pnl import PnlLedger, PnlValues
from greekstream.core.portfolio import PortfolioSlice
from greekstream.core.regime import VolState, atm_option, next_regime
from greekstream.core.regime import update as update_vol
from greekstream.core.scenarios import (
    DEFAULT_GRID,
    EMPTY_GRID,
    STABLECOINS,
    BookScenarioRisk,
    Grid,
    book_scenario_risk,
    risk_matrix_event,
    share_option_values,
)
from greekstream.core.slices import build_slice
from greekstream.core.state import MARKET, EngineState, Key
from greekstream.core.timeutil import MICROS_PER_SECOND, format_ts
from greekstream.core.valuation import (
    UNVALUED,
    ContractGreeks,
    InstrumentState,
    contract_greeks,
    revalue_many,
)
from greekstream.core.var import DEFAULT_CONFIDENCE, Returns, var_events

Output = (Exposure | Pnl | Breach | HedgeIntent | RiskMatrixEvent | VarEvent | Rejected
          | IntentStatus | Regime)
RiskKey = tuple[float | None, ...]  # (worst_loss, liq_move_down, liq_move_up, *pnl)
BookFilter = Callable[[str], bool]
Record = tuple[bytes | str, str]  # (raw JSON, source)
T = TypeVar("T")


@dataclass(frozen=True)
class EngineConfig:
    revaluation_interval_s: float = 60.0
    oracle_tolerance: float = 0.01
    oracle_max_age_s: float = 300.0
    oracle_max_jump: float = 0.10
    risk_interval_s: float = 60.0
    risk_change_threshold: float = 0.05
    # event ids are remembered this long in event time; older events are late (core/dedup.py)
    dedup_window_s: float = dedup.DEFAULT_WINDOW_S
    # a book record dated more than this past the market's clock is rejected (ts_ahead;
    # core/guards.py); 0: no limit
    max_ts_ahead_s: float = guards.MAX_TS_AHEAD_S
    default_grid: Grid = DEFAULT_GRID
    # per-underlying grids (a scenario file, greekstream.runtime.scenario_files.engine_config);
    # it must return the same Grid object for the same underlying (memoise it)
    grids: Callable[[str], Grid] | None = None
    # historical days (a returns file): with them, a `var` output per book every
    # var_interval_s of event time (core/var.py)
    returns: Returns | None = None
    var_interval_s: float = 3600.0
    var_confidence: float = DEFAULT_CONFIDENCE
    # docs/contract.md part 2 "Emission in event-time windows": derived outputs of market data are
    # conflated per window of this many ms of event time; 0 emits after every record (v1)
    emit_interval_ms: int = 100
    # the processor's windows (docs/streaming.md, "Emission windows across instances"): a
    # book record closes only its own book's window and a market record closes every book
    # whose window it passes, each book's window counted from the market's records and its
    # own; False (files, history): one window for all, closed by any record (contract)
    windows_per_book: bool = False
    regime_half_life_h: float = 24.0  # core/regime.py
    regime_bounds: tuple[float, float] = (0.40, 0.80)

    def grid_for(self, underlying: str) -> Grid:
        """The underlying's grid; a stablecoin is never shocked by the default grid."""
        if self.grids is not None:
            return self.grids(underlying)
        return EMPTY_GRID if underlying in STABLECOINS else self.default_grid


# A trade's estimated largest scenario P&L below this fraction of the last emitted
# worst loss (accumulated since) does not trigger a full re-computation of the matrix.
_LOSS_FLOOR_USD = 1.0


@dataclass(frozen=True)
class _Unlimited:
    max_abs_delta: float | None = None
    max_abs_gamma: float | None = None
    max_abs_vega: float | None = None
    min_theta: float | None = None
    min_health_factor: float | None = None
    breach_hysteresis: float = 0.0


_NO_LIMITS = _Unlimited()


def is_breached(
    value: float | None, limit: float | None, is_abs: bool, was_open: bool, hysteresis: float
) -> bool:
    """docs/contract.md, "Breach hysteresis": a breach opens when the value crosses the limit and
    clears only once it is back inside by ``hysteresis`` × |limit|: |value| < limit·(1 − h)
    for a maximum of |value|, value > limit + |limit|·h for a minimum (theta's limit is
    negative, hence |limit|). No limit or no value: not breached."""
    if limit is None or value is None:
        return False
    margin = abs(limit) * hysteresis if was_open else 0.0
    if is_abs:
        return abs(value) >= limit - margin if was_open else abs(value) > limit
    return value <= limit + margin if was_open else value < limit


class Rejection(Exception):
    """A business rejection: the event is valid JSON of the contract but cannot be applied."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: RejectReason = reason
        self.detail = detail


def output_id(*parts: object) -> str:
    """A deterministic id for an output event from its inputs."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()




def scope_of(event: Any) -> str:
    """Dedup scope: the book for book events, the market for everything else."""
    return event.book if event.type in BOOK_TYPES else MARKET


class _InState(property, Generic[T]):
    """An :class:`Engine` attribute that lives in its :class:`EngineState`: a property
    whose getter is ``attrgetter("state.NAME")``, so a read runs in C (hot: the handlers
    read the engine's tables through these; a Python ``__get__`` was ~2% of a quote storm)."""

    def __set_name__(self, owner: type, name: str) -> None:
        def put(obj: Engine, value: T) -> None:
            setattr(obj.state, name, value)

        property.__init__(self, attrgetter("state." + name), put)

    if TYPE_CHECKING:  # what a read and a write are, to the type checker
        @overload
        def __get__(self, obj: None, owner: type) -> _InState[T]: ...
        @overload
        def __get__(self, obj: Engine, owner: type | None = None) -> T: ...
        def __get__(self, obj: Engine | None, owner: type | None = None) -> T | _InState[T]: ...
        def __set__(self, obj: Engine, value: T) -> None: ...


class Engine:
    instruments: _InState[dict[str, InstrumentState]] = _InState()
    greeks: _InState[dict[str, ContractGreeks]] = _InState()
    holders: _InState[dict[str, dict[Key, None]]] = _InState()
    underlyings: _InState[dict[str, None]] = _InState()
    index: _InState[dict[str, float]] = _InState()
    books: _InState[dict[Key, BookRisk]] = _InState()
    by_underlying: _InState[dict[str, dict[Key, None]]] = _InState()
    limits: _InState[dict[Key, Limits]] = _InState()
    margins: _InState[dict[Key, tuple[float, float]]] = _InState()
    collateral: _InState[dict[Key, float]] = _InState()
    chain: _InState[onchain_state.ChainState] = _InState()
    pnl: _InState[PnlLedger] = _InState()
    seen: _InState[dedup.SeenIds] = _InState()
    quote_ids: _InState[dedup.QuoteIds] = _InState()
    clock: _InState[int | None] = _InState()
    next_reval_us: _InState[int | None] = _InState()
    next_risk_us: _InState[int | None] = _InState()
    next_var_us: _InState[int | None] = _InState()
    oracle: _InState[OracleState] = _InState()
    duplicates: _InState[int] = _InState()
    late_quotes: _InState[int] = _InState()
    chains: _InState[Chains] = _InState()
    regimes: _InState[dict[str, VolState]] = _InState()
    bid_ask: _InState[dict[str, tuple[float | None, float | None]]] = _InState()

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        if self.config.emit_interval_ms < 0:
            raise ValueError("emit_interval_ms must be 0 (v1: emit after every record) or more")
        self.state = EngineState(oracle=OracleState(OracleConfig.of(self.config)),
                                 seen=dedup.SeenIds(self.config.dedup_window_s))
        self._window_us = int(self.config.emit_interval_ms) * 1000
        self._ahead_us = guards.ahead_limit_us(self.config.max_ts_ahead_s)
        _check_intervals(self.config)
        self._oracle_memo: dict[tuple[str, int], OracleStatus] = {}  # valid until _index
        self._grid_reach: dict[str, tuple[float, float]] = {}  # largest |price|, |vol| shock
        self._journal = guards.Journal()
        self.intents = IntentTracker()  # expiry times of pending intents (core/intents.py)
        self._handlers: dict[str, Callable[[Any], list[Output]]] = {
            "instrument": self._instrument,
            "quote": self._quote,
            "index": self._index,
            "trade": self._trade,
            "collateral": self._collateral,
            "reorg": self._reorg,
            "limits": self._limits,
            "margin": self._margin,
            "loan": self._onchain_position,
            "lp_position": self._onchain_position,
            "funding": self._funding,
            "tick": self._tick,
        }

    # ------------------------------------------------------------------ entry points

    def handle(self, raw: bytes | str, source: str) -> list[Output]:
        """Decode one record and apply it; a record that does not decode is rejected.
        Never raises: whatever fails becomes a `rejected` output and changes no state."""
        try:
            event = decode_event(raw)
        except DecodeError as exc:
            rejected = self._rejected(exc.reason, exc.detail, source, _text(raw), exc.ts)
            return self.chains.link([rejected], source)
        except Exception as exc:  # a decoder bug must not stop the stream
            rejected = self._rejected("internal_error", guards.describe(exc), source,
                                      _text(raw), None)
            return self.chains.link([rejected], source)
        return self.apply(event, source, raw)

    def apply_batch(self, records: Iterable[Record]) -> list[Output]:
        """Decode and apply a run of (raw, source) records in merge order (a file chunk,
        a Kafka poll batch); the outputs are those of :meth:`handle` one by one."""
        outputs: list[Output] = []
        handle = self.handle
        for raw, source in records:
            outputs += handle(raw, source)
        return outputs

    def apply(self, event: Any, source: str, raw: bytes | str | None = None) -> list[Output]:
        """Apply one decoded input event; returns the outputs it caused, in order, each
        linked into its hash chain (core/chain.py) as it leaves the engine."""
        return self._guarded(event, source, raw)

    def _guarded(self, event: Any, source: str, raw: bytes | str | None) -> list[Output]:
        """Validate first (the door, then each handler's checks, raising :class:`Rejection`
        before any change); anything that still fails is undone from the journal
        (core/guards.py) and rejected. The outputs are linked into their chains inside:
        one that cannot be encoded (so neither sent nor stored) undoes its input too."""
        journal = self._journal
        if journal.due():
            journal.start(self.snapshot())
        try:
            guards.check_event(event)
            outputs = self._apply(event)
            bad = guards.first_non_finite(outputs)
            if bad is not None:
                raise guards.GuardError("non_finite_result", f"{bad} would not be finite")
            self.chains.link(outputs, source)  # all or none of the heads move
        except Rejection as exc:  # raised before any change
            rejected = self._reject(event, source, raw, exc.reason, exc.detail)
            return self.chains.link([rejected], source)
        except guards.GuardError as exc:
            if exc.reason == "non_finite_result":
                self._rollback()  # (it replaces self.chains)
            rejected = self._reject(event, source, raw, exc.reason, exc.detail)
            return self.chains.link([rejected], source)
        except Exception as exc:  # a bug: undo whatever it changed, report it, go on
            self._rollback()
            rejected = self._reject(event, source, raw, "internal_error", guards.describe(exc))
            return self.chains.link([rejected], source)
        journal.entries.append((event, source, raw))
        return outputs

    def _apply(self, event: Any) -> list[Output]:
        clock, seen, kind, state = self.clock, self.seen, event.type, self.state
        scope = scope_of(event)
        since = state.dedup_clock(scope)
        cutoff = seen.cutoff(since)
        late = cutoff is not None and event.ts < cutoff
        window_tick = kind == "tick" and event.event_id.startswith(WINDOW_TICK)
        ahead = (scope != MARKET or window_tick) and guards.too_far_ahead(
            event.ts, state.market_clock, self._ahead_us)
        if window_tick and (late or ahead):
            # it stands for a book record (rejected as late or ts_ahead itself: nothing
            # here) or for the end of the input (its close, as flush(), moving no clock)
            return self.close_window() if event.event_id.startswith(END_TICK) else []
        if late:
            whose = "the market's clock" if scope == MARKET or (
                state.market_clock is not None and since == state.market_clock) else (
                "its book's clock (its records before any market record)")
            raise Rejection("late_event", f"ts is more than dedup_window_s "
                            f"({self.config.dedup_window_s:g} s) before {whose} "
                            f"{format_ts(since or 0)}: too late to tell a duplicate")
        if ahead:
            assert state.market_clock is not None
            raise Rejection("ts_ahead", guards.ahead_detail(
                event.ts, state.market_clock, self.config.max_ts_ahead_s))
        if kind == "quote":  # only the quotes in force: an older one moves nothing anyway
            duplicate = self.quote_ids.contains(event.instrument_id, event.event_id)
        else:  # (a repeated tick is no duplicate: ticks are not kept)
            duplicate = kind != "tick" and seen.contains(scope, event.event_id, since)
        if duplicate:
            # it changes no state, but it is a record of the stream the gateway published
            # and ticked by: it closes the window it passes, as any record does, so that
            # every instance closes windows where a file replay does (docs/streaming.md)
            self.duplicates += 1
            return self._advance_window(event, scope) if self._window_us else []
        # a record of a later window closes the open one before it is applied (a record
        # that will be rejected closes nothing: a rejection changes no state)
        closed = self._advance_window(event, scope) if self._window_us else []
        if window_tick and event.event_id.startswith(END_TICK):
            closed += self.close_window()  # the end of the input: everything, as flush()
        # intents due by this record's ts expire next, so its handler can hedge again
        # (a market record expires every book's, a book record only its own)
        if window_tick:
            expired = []  # the gateway's window tick closes the window only (core/events.py)
        else:
            expired = self._expire_intents(event, None if scope == MARKET else scope)
        try:
            outputs = self._handlers[kind](event)
        except Rejection:
            self._reopen_intents(expired)
            raise
        if expired:
            outputs = [status for _, status in expired] + outputs
        if clock is None or event.ts > clock:
            self.clock = event.ts
        if scope == MARKET:
            if not window_tick and (state.market_clock is None
                                    or event.ts > state.market_clock):
                state.market_clock = event.ts  # (a window tick stands for a book record)
        elif state.market_clock is None:  # (with one, the book's lateness is the market's)
            own = state.book_clocks.get(scope)
            if own is None or event.ts > own:
                state.book_clocks[scope] = event.ts
        if kind == "quote":
            self.quote_ids.add(event.instrument_id, event.event_id, event.ts)
        elif kind != "tick":
            seen.add(scope, event.event_id, event.ts, state.dedup_clock(scope))
        return closed + outputs if closed else outputs

    # ------------------------------------------------------------------ emission windows

    def _advance_window(self, ev: Any, scope: str) -> list[Output]:
        state = self.state
        end = state.window_end_us
        if scope != MARKET and self.config.windows_per_book:
            return self._advance_book_window(ev, scope, end)
        if end is not None and ev.ts < end:
            return []
        self._check(ev)
        new_end = state.window_end_us = self._window_end(ev.ts)
        ahead = state.book_windows
        held: frozenset[str] | dict[str, int] = frozenset()
        if ahead:  # books whose own records opened a later window: this one leaves them open
            held = {b: w for b, w in ahead.items() if w > ev.ts}
            # (one that ends at the market's new end is the market's window again)
            state.book_windows = {b: w for b, w in held.items() if new_end is None or w > new_end}
        return self.close_window(held) if end is not None else []

    def _advance_book_window(self, ev: Any, book: str, end: int | None) -> list[Output]:
        """A book record with ``windows_per_book``: the book's window is the later of the
        market's and the one its own records opened; passing it closes that book's dirty
        keys only (the other books' owners may not see this record)."""
        state = self.state
        own = state.book_windows.get(book)
        window = own if own is not None and (end is None or own > end) else end
        if window is not None and ev.ts < window:
            return []
        self._check(ev)
        new_end = self._window_end(ev.ts)
        if new_end is not None and (end is None or new_end > end):
            state.book_windows[book] = new_end
        else:
            state.book_windows.pop(book, None)
        if window is None:
            return []
        dirty = state.dirty
        keys = [(book, u) for u in state.underlyings if (book, u) in dirty]
        return self._close(sorted(keys)) if keys else []

    def _window_end(self, ts: int) -> int | None:
        """The end of the window ``ts`` is in (None with E = 0)."""
        w = self._window_us
        return (ts // w + 1) * w if w else None

    def _check(self, ev: Any) -> None:
        """The handlers' rejections without applying anything (raises :class:`Rejection`)."""
        kind = ev.type
        if kind == "quote":
            self._quoted_instrument(ev)
        elif kind == "trade":
            self._known_instrument(ev.instrument_id)
        elif kind == "limits" and ev.hedge_instrument is not None:
            self._known_instrument(ev.hedge_instrument)
        elif kind == "instrument":
            self._check_instrument(ev)
        elif kind in ("loan", "lp_position"):
            self._asset_prices(ev)
        elif kind == "funding":
            self._funded_instrument(ev)

    def close_window(self, held: Container[str] = ()) -> list[Output]:
        """Emit every dirty (book, underlying) in sorted order (but those of the ``held``
        books, whose own window is still open): its exposure with its current values
        (``ts``/``caused_by`` of the record that last dirtied it), then its breaches and
        hedge intent, as v1 does after a record."""
        state = self.state
        if not state.dirty:
            return []
        if held:
            return self._close(sorted(k for k in state.dirty.dict() if k[0] not in held))
        return self._close(sorted(state.dirty.dict()))

    def _close(self, keys: list[Key]) -> list[Output]:
        """Emit these dirty keys (sorted), each with the record that last dirtied it."""
        outputs: list[Output] = []
        dirty = self.state.dirty.dict()
        owed = [(key, dirty[key]) for key in keys]
        # every key's P&L in one pass (nothing in the reports moves a price)
        with self.state.pnl.prepared([(key, cause.ts) for key, cause in owed]):
            for key, cause in owed:
                outputs += self._report((key,), cause, cause.tag)
        return outputs

    def flush(self) -> list[Output]:
        """The end of a finite input (a file, ``--to`` of a history replay): close the
        open window. Nothing to do with ``emit_interval_ms`` 0. Its outputs belong to books
        and are linked into their hash chains here (they leave the engine here)."""
        try:
            return self.chains.link(self.close_window(), "")
        except Exception as exc:  # a bug: undo the close, report it (flush never raises)
            if self._journal.base is not None:
                self._rollback()
            rejected = self._rejected("internal_error", "closing the open window at the end "
                                      f"of the input: {guards.describe(exc)}", "", "", None)
            return self.chains.link([rejected], "")

    def _market_report(self, keys: Iterable[Key], ev: Any, tag: str = "exp") -> list[Output]:
        """What a market record's keys emit: at once (E = 0), else they turn dirty."""
        if not self._window_us:
            return self._report(keys, ev, tag)
        state = self.state
        cause = Cause(ev.event_id, ev.ts, tag)
        for key in keys:
            br = state.books.get(key)
            if br is not None and br.underlying in state.underlyings:
                state.mark_dirty(br, cause)
        return []

    def _tick(self, ev: Tick) -> list[Output]:
        """A tick changes no state; arriving, it closed the window it moved past."""
        return []

    def _reject(self, event: Any, source: str, raw: bytes | str | None, reason: Any,
                detail: str) -> Rejected:
        try:
            text = _text(raw) if raw is not None else encode_input(event).decode()
        except Exception:  # an event that cannot even be encoded back
            text = repr(event)
        ts = getattr(event, "ts", None)
        return self._rejected(reason, detail, source, text, ts)

    def _rollback(self) -> None:
        """Back to the state before the current event: the journal's snapshot, then the
        events applied since, re-applied without their outputs."""
        journal = self._journal
        base, entries = journal.base, journal.entries
        assert base is not None
        heads = dict(self.chains.heads)  # outputs already emitted stay in their chains
        self.__init__(self.config)  # type: ignore[misc]
        self.restore(base)
        self._journal.start(base)
        for event, source, raw in entries:
            self.apply(event, source, raw)
        self.chains.heads = heads
        # a new base here: another failure soon after re-applies only what follows it
        # (up to the journal's limit each time would outlast a Kafka transaction)
        self._journal.start(self.snapshot())

    # ------------------------------------------------------------------ market data

    def _check_instrument(self, ev: Instrument) -> InstrumentState | None:
        old = self.instruments.get(ev.instrument_id)
        moved = old is not None and old.underlying != ev.underlying
        if moved and self.holders.get(ev.instrument_id):
            assert old is not None
            raise Rejection(
                "inconsistent_event",
                f"instrument {ev.instrument_id} is held under underlying {old.underlying}; "
                f"it cannot move to {ev.underlying}",
            )
        return old

    def _instrument(self, ev: Instrument) -> list[Output]:
        old = self._check_instrument(ev)
        inst = InstrumentState(
            instrument_id=ev.instrument_id,
            kind=ev.kind,
            underlying=ev.underlying,
            inverse=ev.settlement == "inverse",
            contract_size=ev.contract_size,
            expiry_us=ev.expiry,
            strike=ev.strike,
            is_call=ev.option_type == "call",
            interval_h=ev.interval_h or 8.0,
        )
        if old is not None and old.is_option == inst.is_option:
            inst.forward, inst.vol, inst.mark, inst.quote_ts = (
                old.forward,
                old.vol,
                old.mark,
                old.quote_ts,
            )
        self.instruments[ev.instrument_id] = inst
        self.underlyings.setdefault(ev.underlying, None)
        return self._revalue_instrument(inst, ev)

    def _quoted_instrument(self, ev: Quote) -> InstrumentState:
        inst = self._known_instrument(ev.instrument_id)
        if inst.is_option and (ev.underlying_price is None or ev.mark_iv is None):
            raise Rejection(
                "missing_quote_field",
                f"a quote of option {inst.instrument_id} needs underlying_price and mark_iv",
            )
        if not inst.is_option and ev.mark_price is None:
            raise Rejection(
                "missing_quote_field",
                f"a quote of {inst.kind} {inst.instrument_id} needs mark_price",
            )
        return inst

    def _quote(self, ev: Quote) -> list[Output]:
        inst = self._quoted_instrument(ev)
        if inst.quote_ts is not None and ev.ts < inst.quote_ts:
            # docs/contract.md: the latest quote by event time is in force. A late one stays in
            # history (it is a valid input) and is counted, but moves nothing.
            self.late_quotes += 1
            return []
        if inst.is_option:
            inst.forward, inst.vol = ev.underlying_price, ev.mark_iv
        else:
            inst.mark = ev.mark_price
        inst.quote_ts = ev.ts
        self.pnl.on_quote(inst, ev.ts)
        if ev.bid is not None or ev.ask is not None:
            self.bid_ask[inst.instrument_id] = (ev.bid, ev.ask)
        else:
            self.bid_ask.pop(inst.instrument_id, None)
        outputs = self._revalue_instrument(inst, ev)
        outputs.extend(self._maybe_full_revaluation(ev))
        outputs.extend(self._maybe_risk_tick(ev))
        outputs.extend(self._maybe_var_tick(ev))
        return outputs

    def _index(self, ev: Index) -> list[Output]:
        # The oracle guard decides the price in force: a jump beyond oracle_max_jump
        # waits for a second source (core/oracle.py); the raw observation is kept.
        observed = self.oracle.observe(ev.underlying, ev.source, ev.price, ev.ts)
        self._oracle_memo.clear()
        if observed.price is not None:
            self.index[ev.underlying] = observed.price
        self.underlyings.setdefault(ev.underlying, None)
        keys = sorted(self.by_underlying.get(ev.underlying, ()))  # canonical: restore-proof
        outputs = self._market_report(keys, ev)
        outputs.extend(self._regime(ev, keys, observed.trusted))
        outputs.extend(self._maybe_full_revaluation(ev))
        outputs.extend(self._maybe_risk_tick(ev))
        outputs.extend(self._maybe_var_tick(ev))
        return outputs

    def _revalue_instrument(self, inst: InstrumentState, ev: Any) -> list[Output]:
        iid = inst.instrument_id
        new = contract_greeks(inst, ev.ts)
        old = self.greeks.get(iid, UNVALUED)
        self.greeks[iid] = new
        self.pnl.reprice(inst, new)
        holders = self.holders.get(iid, {})
        dd, dg, dv, dt, dva, dvo = (
            new.delta - old.delta,
            new.gamma - old.gamma,
            new.vega - old.vega,
            new.theta - old.theta,
            new.vanna - old.vanna,
            new.volga - old.volga,
        )
        if not holders:
            return []
        state = self.state
        # every holder's totals row += its quantity · Δgreeks, in one step: the same IEEE
        # operations as key by key (books.Totals), so the same bits
        cells, qty, rows = state.holder_columns(iid)
        state.totals.add_at(cells, qty, (dd, dg, dv, dt, dva, dvo))
        moved = int(new.live) - int(old.live)
        if moved:
            books = state.books
            for key in holders:
                books[key].live_positions += moved
        if not self._window_us:  # E = 0: each key emits at once, in sorted order
            return self._report(sorted(holders), ev)
        # E > 0 (hot: a quote storm): the keys turn dirty, as _market_report would mark
        # them (all of them hold this instrument, so share its underlying); their order is
        # free (the window's close sorts them)
        if inst.underlying in state.underlyings:
            state.dirty.mark_rows(rows, Cause(ev.event_id, ev.ts, "exp"))
        return []

    def _maybe_full_revaluation(self, ev: Any) -> list[Output]:
        due, self.next_reval_us = _tick(self.next_reval_us, self.config.revaluation_interval_s,
                                        ev.ts)
        return self.revalue_all(ev.ts, caused_by=ev) if due else []

    def revalue_all(self, at_us: int, caused_by: Any) -> list[Output]:
        """Full revaluation at ``at_us``: every instrument's Greeks, every book's totals."""
        state = self.state
        greeks = state.greeks = revalue_many(state.instruments.values(), at_us)
        state.pnl.reprice_all(state.instruments, greeks)
        for br in state.books.values():
            d = ga = v = th = va = vo = 0.0
            live = 0
            for iid, qty in br.positions.items():  # the same sums, in the same order, as
                g = greeks[iid]                     # Totals.add from zero
                d += qty * g.delta
                ga += qty * g.gamma
                v += qty * g.vega
                th += qty * g.theta
                va += qty * g.vanna
                vo += qty * g.volga
                live += g.live
            br.totals.set((d, ga, v, th, va, vo))
            br.live_positions = live
        return self._market_report(sorted(state.books), caused_by, tag="reval")

    # ------------------------------------------------------------------ book events

    def _trade(self, ev: Trade) -> list[Output]:
        inst = self._known_instrument(ev.instrument_id)
        br = self._book(ev.book, inst.underlying)
        iid = inst.instrument_id
        signed = ev.quantity if ev.side == "buy" else -ev.quantity
        held = iid in br.positions
        qty = br.positions.get(iid, 0.0) + signed
        g = self.greeks.get(iid, UNVALUED)
        if abs(qty) < FLAT:
            br.positions.pop(iid, None)
            self.holders.get(iid, {}).pop(br.key, None)
            br.live_positions -= held and g.live
        else:
            br.positions[iid] = qty
            self.holders.setdefault(iid, {})[br.key] = None
            br.live_positions += (not held) and g.live
        self.state.holding_changed(iid)
        br.totals.add(signed, g.delta, g.gamma, g.vega, g.theta, g.vanna, g.volga)
        self.pnl.on_trade(br.key, inst, signed, ev.price, ev.fee or 0.0)
        outputs = self._fill_intents(ev, iid)
        outputs.extend(self._report([br.key], ev))
        br.risk_drift += self._trade_risk_estimate(inst, g, signed)
        if br.risk_last is None or br.risk_drift > self.config.risk_change_threshold * max(
            float(br.risk_last[0] or 0.0), _LOSS_FLOOR_USD
        ):
            outputs.extend(self._risk([br.key], ev, tick=False))
        return outputs

    def _trade_risk_estimate(self, inst: InstrumentState, g: ContractGreeks, q: float) -> float:
        """A cheap magnitude of the trade's largest scenario P&L (delta-gamma-vega on the
        grid's largest shocks): only decides *when* to re-run the full revaluation."""
        price = self.index.get(inst.underlying) or inst.forward or inst.mark
        if price is None or not g.valued:
            return math.inf
        reach = self._grid_reach.get(inst.underlying)
        if reach is None:  # the config is immutable: the grid's largest shocks, once
            grid = self.config.grid_for(inst.underlying)
            reach = self._grid_reach[inst.underlying] = (
                float(abs(grid.price_shock).max(initial=0.0)),
                float(abs(grid.vol_shock).max(initial=0.0)) * 100.0,
            )
        move, vol = price * reach[0], reach[1]
        return abs(q) * (abs(g.delta) * move + 0.5 * abs(g.gamma) * move * move + abs(g.vega) * vol)

    def _collateral(self, ev: Collateral) -> list[Output]:
        self.chain.record(ev)
        key = (ev.book, ev.asset)
        self.collateral[key] = self.collateral.get(key, 0.0) + ev.amount
        self._book(ev.book, ev.asset)
        return self._report([key], ev) + self._risk([key], ev, tick=False)

    def _onchain_position(self, ev: Loan | LpPosition) -> list[Output]:
        keys = onchain_state.keys_of(ev)
        prices = self._asset_prices(ev)
        self.chain.record(ev)
        self.chain.set_position(ev)
        del prices
        for book, asset in keys:
            self._book(book, asset)
        return self._report(keys, ev) + self._risk(keys, ev, tick=False)

    def _asset_prices(self, ev: Loan | LpPosition) -> dict[str, float]:
        assets = (ev.collateral_asset, ev.debt_asset) if isinstance(ev, Loan) else (ev.base,)
        prices: dict[str, float] = {}
        for asset in assets:
            price = onchain_state.asset_price(asset, self.index)
            if price is None:
                raise Rejection(
                    "unknown_asset",
                    f"asset {asset} has no index price (only USD is priced without one); "
                    "publish an index event for it first",
                )
            prices[asset] = price
        return prices

    def _reorg(self, ev: Reorg) -> list[Output]:
        retracted = self.chain.retract(ev.chain, ev.from_block)
        keys: dict[tuple[str, str], None] = {}
        for old in retracted:
            self.seen.discard(scope_of(old), old.event_id)
            if isinstance(old, Collateral):
                key = (old.book, old.asset)
                self.collateral[key] = self.collateral.get(key, 0.0) - old.amount
                keys[key] = None
            else:
                keys.update(dict.fromkeys(onchain_state.keys_of(old)))
        return self._report(list(keys), ev) + self._risk(list(keys), ev, tick=False)

    def _limits(self, ev: Limits) -> list[Output]:
        if ev.hedge_instrument is not None:
            self._known_instrument(ev.hedge_instrument)
        key = (ev.book, ev.underlying)
        old = self.limits.get(key)
        self.limits[key] = ev
        br = self.books.get(key)
        if br is None:
            return []
        outputs = self._report([key], ev) if key in self.state.dirty else []  # emits at once
        if br.last_emitted is None:
            return outputs
        if br.pending is not None and policy(old) != policy(ev):
            outputs.append(self._close_intent(br, "superseded", ev.ts, ev))
        values = self.exposure_values(br, ev.ts)
        return outputs + self._check_limits(br, values, ev) + self._risk([key], ev, tick=False)

    def _funded_instrument(self, ev: Funding) -> InstrumentState:
        inst = self._known_instrument(ev.instrument_id)
        if inst.kind != "perpetual":
            raise Rejection(
                "inconsistent_event",
                f"funding names {inst.kind} {inst.instrument_id}; only perpetuals pay funding",
            )
        if not inst.inverse and inst.mark is None:
            raise Rejection(
                "missing_quote_field",
                f"linear perpetual {inst.instrument_id} has no mark price to pay funding at; "
                "publish its quote first",
            )
        return inst

    def _funding(self, ev: Funding) -> list[Output]:
        inst = self._funded_instrument(ev)
        keys = sorted(self.holders.get(inst.instrument_id, ()))
        self.pnl.on_funding(inst, ev.rate, keys)
        return self._report(keys, ev)

    def _margin(self, ev: Margin) -> list[Output]:
        key = (ev.book, ev.underlying)
        self.margins[key] = (ev.equity, ev.maintenance_margin)
        outputs = self._report([key], ev) if key in self.state.dirty else []
        return outputs + self._risk([key], ev, tick=False)

    # ------------------------------------------------------------------ reporting

    def _report(self, keys: Iterable[tuple[str, str]], ev: Any, tag: str = "exp") -> list[Output]:
        outputs: list[Output] = []
        state = self.state
        for key in keys:
            br = state.books.get(key)
            if br is None or br.underlying not in state.underlyings:
                continue
            state.dirty.pop(key, None)  # emitted now: no longer owed at the window's close
            values = self.exposure_values(br, ev.ts)
            snapshot = values.as_tuple()
            if snapshot == br.last_emitted:
                outputs.extend(self._pnl_report(br, ev, tag))  # a mark moved P&L only
                continue
            br.last_emitted = snapshot
            outputs.append(
                build(
                    Exposure,
                    event_id=f"{tag}:{ev.event_id}:{br.book}:{br.underlying}",
                    ts=ev.ts,
                    book=br.book,
                    underlying=br.underlying,
                    delta=values.delta,
                    delta_equity=values.delta_equity,
                    gamma=values.gamma,
                    vega=values.vega,
                    theta=values.theta,
                    delta_usd=values.delta_usd,
                    positions=values.positions,
                    caused_by=ev.event_id,
                    stale=values.stale,
                    oracle_divergence=values.oracle_divergence,
                    vanna=values.vanna,
                    volga=values.volga,
                    funding_usd_per_day=values.funding_usd_per_day,
                )
            )
            outputs.extend(self._pnl_report(br, ev, tag))
            outputs.extend(self._oracle_breach(br, values, ev))
            outputs.extend(self._check_limits(br, values, ev))
        return outputs

    def _pnl_report(self, br: BookRisk, ev: Any, tag: str) -> list[Output]:
        """The key's `pnl` (right after its exposure), when it changed since the last one."""
        key = br.key
        if not self.pnl.has(key):
            return []
        values = self.pnl.live_values(key, self.instruments, self.greeks.get, ev.ts)
        if values == self.pnl.last_emitted.get(key):
            return []
        self.pnl.last_emitted[key] = values
        return [build(
            Pnl,
            event_id=f"pnl-{tag}:{ev.event_id}:{br.book}:{br.underlying}",
            ts=ev.ts,
            book=br.book,
            underlying=br.underlying,
            realized_usd=values.realized_usd,
            unrealized_usd=values.unrealized_usd,
            fees_usd=values.fees_usd,
            funding_usd=values.funding_usd,
            total_usd=values.total_usd,
            caused_by=ev.event_id,
        )]

    def exposure_values(self, br: BookRisk, at_us: int) -> ExposureValues:
        """The (book, underlying)'s current numbers from the cached totals."""
        state = self.state  # hot: one attribute lookup for the state's tables
        t_delta, t_gamma, t_vega, t_theta, t_vanna, t_volga = br.totals.values()
        index = state.index
        extra = state.chain.contribution(br.book, br.underlying, index)
        delta = t_delta + extra.delta
        price = index.get(br.underlying)
        memo = (br.underlying, at_us)
        oracle = self._oracle_memo.get(memo)
        if oracle is None:
            if len(self._oracle_memo) > 64:
                self._oracle_memo.clear()
            oracle = self._oracle_memo[memo] = state.oracle.status(br.underlying, at_us)
        return ExposureValues(
            book=br.book,
            underlying=br.underlying,
            delta=delta,
            delta_equity=delta + state.collateral.get(br.key, 0.0),
            gamma=t_gamma + extra.gamma,
            vega=t_vega,
            theta=t_theta,
            delta_usd=None if price is None else delta * price,
            positions=br.live_positions + extra.positions,
            stale=oracle.stale,
            oracle_divergence=oracle.divergence,
            vanna=t_vanna,
            volga=t_volga,
            funding_usd_per_day=state.pnl.funding_per_day(br.key, state.instruments),
        )

    def _oracle_breach(self, br: BookRisk, values: ExposureValues, ev: Any) -> list[Output]:
        """One `oracle` breach per (book, underlying) while its price is stale or divergent;
        the value is the spread between sources (or the price's age in seconds)."""
        flagged = values.stale or values.oracle_divergence
        if flagged == ("oracle" in br.breaches):
            return []
        status = self.oracle.status(br.underlying, ev.ts)
        cfg = self.oracle.config
        if status.divergence or (not status.stale and status.spread is not None):
            value, limit = status.spread, cfg.tolerance
        else:
            value, limit = status.age_s, cfg.max_age_s
        return self._breach_state(br, "oracle", value, limit, flagged, ev)

    def _check_limits(self, br: BookRisk, values: ExposureValues, ev: Any) -> list[Output]:
        limits = self.limits.get(br.key)
        if limits is None and not br.breaches:
            return []
        outputs: list[Output] = []
        lim = limits or _NO_LIMITS
        k = self.regime_scale(limits, br.underlying)
        checks: tuple[tuple[str, float | None, float | None, bool], ...] = (
            ("delta", values.delta, _scaled(lim.max_abs_delta, k), True),
            ("gamma", values.gamma, _scaled(lim.max_abs_gamma, k), True),
            ("vega", values.vega, _scaled(lim.max_abs_vega, k), True),
            ("theta", values.theta, lim.min_theta, False),
        )
        min_hf = lim.min_health_factor
        if min_hf is not None or "health_factor" in br.breaches:
            checks += (("health_factor", self._lowest_health_factor(br), min_hf, False),)
        for metric, value, limit, is_abs in checks:
            breached = is_breached(value, limit, is_abs, metric in br.breaches,
                                   lim.breach_hysteresis)
            outputs.extend(self._breach_state(br, metric, value, limit, breached, ev))
        if limits is not None:
            intent = self._hedge(br, values, limits, ev)
            if intent is not None:
                outputs.append(intent)
        return outputs

    def _lowest_health_factor(self, br: BookRisk) -> float | None:
        """The lowest health factor of the book's loans touching the underlying."""
        loans = self.chain.loans(br.book)
        if not loans:
            return None
        hf = lowest_health_factor(loans, br.underlying, self.index)
        return None if hf is None or math.isinf(hf) else hf

    def _breach_state(
        self, br: BookRisk, metric: str, value: float | None, limit: float | None,
        breached: bool, ev: Any,
    ) -> list[Output]:
        open_breach = br.breaches.get(metric)
        if breached == (open_breach is not None):
            return []
        if breached:
            breach_id = output_id("breach", br.book, br.underlying, metric, ev.event_id)
            br.breaches[metric] = OpenBreach(breach_id, limit)
            state = "open"
        else:
            assert open_breach is not None
            breach_id = open_breach.breach_id
            del br.breaches[metric]
            state = "cleared"
        return [
            build(
                Breach,
                event_id=output_id(breach_id, state),
                ts=ev.ts,
                breach_id=breach_id,
                book=br.book,
                underlying=br.underlying,
                metric=metric,
                value=value,
                limit=limit,
                state=state,
                caused_by=ev.event_id,
            )
        ]

    def _hedge(
        self, br: BookRisk, values: ExposureValues, limits: Limits, ev: Any
    ) -> HedgeIntent | None:
        if limits.hedge_instrument is None or limits.hedge_band is None:
            return None
        if br.pending is not None:
            return None
        basis = values.delta_equity if limits.hedge_basis == "equity" else values.delta
        gap = basis - limits.hedge_target
        if abs(gap) <= limits.hedge_band * self.regime_scale(limits, br.underlying):
            return None
        per_contract = self.greeks.get(limits.hedge_instrument, UNVALUED)
        if not per_contract.valued or per_contract.delta == 0.0:
            return None
        wanted = -gap / per_contract.delta
        if not abs(wanted) <= guards.MAX_MAGNITUDE:
            # a hedge instrument with next to no delta (far out of the money, a tiny
            # contract size) cannot hedge the gap: no intent for 1e40 contracts
            return None
        contracts = round_half_away(wanted)
        if contracts == 0:
            return None
        side = "buy" if contracts > 0 else "sell"
        intent_id = output_id(
            "intent", br.book, br.underlying, limits.hedge_instrument, side, abs(contracts),
            ev.event_id,
        )
        # (a timeout past the end of the accepted range, up to 1e15 s by the door's
        # magnitudes, is one that never comes: the intent expires at the range's end)
        # (rounded: 8.2 s is 8,200,000 µs, though 8.2 * 1e6 is 8199999.999999999)
        expires_us = min(ev.ts + round(limits.hedge_timeout_s * MICROS_PER_SECOND),
                         guards.MAX_TS_US)
        br.pending = PendingIntent(intent_id, limits.hedge_instrument, expires_us)
        self.intents.opened(br.key, expires_us)
        inst = self.instruments[limits.hedge_instrument]
        price = price_intent(inst, self._value_per_coin(inst, ev.ts), side, contracts,
                             self.bid_ask.get(inst.instrument_id), limits.hedge_slippage_bps)
        return build(
            HedgeIntent,
            event_id=intent_id,
            ts=ev.ts,
            intent_id=intent_id,
            book=br.book,
            underlying=br.underlying,
            instrument_id=limits.hedge_instrument,
            side=side,
            quantity=abs(contracts),
            delta_before=basis,
            delta_after=basis + contracts * per_contract.delta,
            basis=limits.hedge_basis,
            caused_by=ev.event_id,
            reference_price=price.reference_price,
            limit_price=price.limit_price,
            est_cost_usd=price.est_cost_usd,
            expires_at=expires_us,
        )

    def _value_per_coin(self, inst: InstrumentState, at_us: int) -> float | None:
        """An option's Black-76 value (USD per coin) at ``at_us``; None unquoted."""
        if not inst.is_option or inst.forward is None or inst.vol is None:
            return None
        assert inst.strike is not None and inst.expiry_us is not None
        years = (inst.expiry_us - at_us) / (365 * 86_400 * MICROS_PER_SECOND)
        return black76_scalar(inst.forward, inst.strike, years, inst.vol, inst.is_call).value

    # ------------------------------------------------------------------ intent lifecycle

    def _close_intent(self, br: BookRisk, state: str, at_us: int, ev: Any) -> IntentStatus:
        """Close the (book, underlying)'s pending intent: exactly one status per intent."""
        pending = br.pending
        assert pending is not None
        br.pending = None
        self.intents.closed(br.key)
        return build(
            IntentStatus,
            event_id=output_id("intent_status", pending.intent_id, state),
            ts=at_us,
            intent_id=pending.intent_id,
            book=br.book,
            underlying=br.underlying,
            instrument_id=pending.instrument_id,
            state=state,
            caused_by=ev.event_id,
        )

    def _fill_intents(self, ev: Trade, iid: str) -> list[Output]:
        """A trade of the book on an instrument fills every pending intent of that book on
        it (in key order): its own key's, and that of another underlying hedged with it
        (a (book, WBTC) hedged with the BTC perpetual)."""
        books, book = self.books, ev.book
        keys = sorted(k for k in self.intents.expiries if k[0] == book)
        return [self._close_intent(books[k], "filled", ev.ts, ev) for k in keys
                if (pending := books[k].pending) is not None and pending.instrument_id == iid]

    def _expire_intents(self, ev: Any, book: str | None
                        ) -> list[tuple[PendingIntent, IntentStatus]]:
        """Close every pending intent (of ``book``, or all for a market record) whose
        ``expires_at`` is at or before the record's ts; the status is at expires_at."""
        out = []
        for key in self.intents.due(ev.ts, book):
            br = self.books[key]
            assert br.pending is not None
            pending = br.pending
            out.append((pending, self._close_intent(br, "expired", pending.expires_us, ev)))
        return out

    def _reopen_intents(self, expired: list[tuple[PendingIntent, IntentStatus]]) -> None:
        """Undo :meth:`_expire_intents` (the record was rejected: no state change)."""
        for pending, status in expired:
            br = self.books[(status.book, status.underlying)]
            br.pending = pending
            self.intents.opened(br.key, pending.expires_us)

    # ------------------------------------------------------------------ volatility regimes

    def _regime(self, ev: Index, keys: list[tuple[str, str]], accepted: bool) -> list[Output]:
        """Fold the index into the underlying's realized vol, against its own source's
        previous price (core/regime.py: the basis between sources is not a return; a price
        the oracle guard held is not folded); on a regime change emit `regime` and re-check
        the limits its `regime_scale` moves."""
        source = ev.source or DEFAULT_SOURCE
        price = ev.price if accepted else None
        state = self.regimes.get(ev.underlying)
        if state is None:
            if price is not None:
                self.regimes[ev.underlying] = VolState(
                    price, ev.ts, first_ts=ev.ts, sources={source: (price, ev.ts)})
            return []
        if not update_vol(state, price, ev.ts, self.config.regime_half_life_h, source):
            return []
        new = next_regime(state, self.config.regime_bounds)
        if new == state.regime:
            return []
        previous, state.regime = state.regime, new
        vol = state.realized_vol()
        assert vol is not None and new is not None
        atm = self._atm_option(ev.underlying, ev.ts)
        outputs: list[Output] = [build(
            Regime,
            event_id=output_id("regime", ev.underlying, new, ev.event_id),
            ts=ev.ts,
            underlying=ev.underlying,
            regime=new,
            previous=previous,
            realized_vol=vol,
            implied_vol=None if atm is None else self.instruments[atm].vol,
            implied_instrument=atm,
            caused_by=ev.event_id,
        )]
        for key in keys:
            limits, br = self.limits.get(key), self.books[key]
            if limits is not None and limits.regime_scale and br.last_emitted is not None:
                outputs.extend(self._check_limits(br, self.exposure_values(br, ev.ts), ev))
        return outputs

    def _atm_option(self, underlying: str, at_us: int) -> str | None:
        """The quoted, unexpired option of the underlying nearest 30 days, then the money
        (every instance sees every quote: the same choice whoever emits the regime)."""
        day_us = 86_400 * MICROS_PER_SECOND
        return atm_option([
            (i.instrument_id, (i.expiry_us - at_us) / day_us, i.strike, i.forward)
            for i in self.instruments.values()
            if i.is_option and i.underlying == underlying and i.vol is not None
            and i.forward is not None and i.strike is not None and i.expiry_us is not None
            and i.expiry_us > at_us
        ])

    def regime_scale(self, limits: Limits | None, underlying: str) -> float:
        """The factor on max_abs_* limits and the hedge band in the current regime."""
        if limits is None or not limits.regime_scale:
            return 1.0
        state = self.regimes.get(underlying)
        if state is None or state.regime is None:
            return 1.0
        return limits.regime_scale.get(state.regime, 1.0)

    # ------------------------------------------------------------------ scenario risk

    def _maybe_risk_tick(self, ev: Any) -> list[Output]:
        """Every ``risk_interval_s`` of event time (driven by market data, which every
        processor instance sees): each (book, underlying)'s matrix, emitted if it changed."""
        due, self.next_risk_us = _tick(self.next_risk_us, self.config.risk_interval_s, ev.ts)
        return self._risk(sorted(self.books), ev, tick=True) if due else []

    def _maybe_var_tick(self, ev: Any) -> list[Output]:
        """With a returns file, every ``var_interval_s`` of event time (market data, like
        the risk tick): each book's historical VaR and ES."""
        returns = self.config.returns
        if returns is None:
            return []
        due, self.next_var_us = _tick(self.next_var_us, self.config.var_interval_s, ev.ts)
        if not due:
            return []
        return list(var_events(self.slices(ev.ts), returns, self.config.var_confidence,
                               ts_us=ev.ts, caused_by=ev.event_id))

    def _risk(self, keys: Iterable[tuple[str, str]], ev: Any, *, tick: bool) -> list[Output]:
        """Full revaluation of each key's risk matrix at ``ev.ts``; emit a `risk_matrix`
        when it changed materially (book events) or at all (interval ticks), and keep the
        `liq_distance` breach in step."""
        outputs: list[Output] = []
        window_end = self._window_end(ev.ts)
        todo: list[tuple[BookRisk, bool]] = []  # (key, its matrix of the window was sent)
        for key in keys:
            br = self.books.get(key)
            if br is None or br.underlying not in self.underlyings or \
                    not len(self.config.grid_for(br.underlying)):
                continue
            matrix_sent = window_end is not None and br.risk_window_end == window_end
            if matrix_sent and not self._watches_liq(br):
                continue  # one matrix per key per window, and nothing else needs the report
            todo.append((br, matrix_sent))
        slices = [build_slice(self.state, br, ev.ts, self.pnl.rates) for br, _ in todo]
        if len(slices) > 1:  # one moment: each grid's options valued once for all keys
            by_grid: dict[str, list[PortfolioSlice]] = {}
            for sl in slices:
                by_grid.setdefault(sl.underlying, []).append(sl)
            for underlying, group in by_grid.items():
                share_option_values(group, self.config.grid_for(underlying))
        for (br, matrix_sent), sl in zip(todo, slices, strict=True):
            report = self._scenario_risk(br, sl)
            if matrix_sent:
                # one matrix per key per window: a change waits for the next trigger
                outputs.extend(self._liq_breach(br, report, ev))
                continue
            liq = report.liquidation
            fingerprint: RiskKey = (
                report.matrix.worst_loss,
                None if liq is None else liq.move_down,
                None if liq is None else liq.move_up,
                *report.matrix.pnl.tolist(),
            )
            br.risk_drift = 0.0
            changed = fingerprint != br.risk_last if tick else self._material(br.risk_last,
                                                                              fingerprint)
            if changed:
                br.risk_last = fingerprint
                br.risk_window_end = window_end
                outputs.append(risk_matrix_event(
                    report.matrix, liq, event_id=f"risk:{ev.event_id}:{br.book}:{br.underlying}",
                    ts_us=ev.ts, caused_by=ev.event_id,
                ))
            outputs.extend(self._liq_breach(br, report, ev))
        return outputs

    def book_risk(self, br: BookRisk, at_us: int) -> BookScenarioRisk:
        """A (book, underlying)'s matrix and liquidation distance at ``at_us``."""
        return self._scenario_risk(br, build_slice(self.state, br, at_us, self.pnl.rates))

    def _scenario_risk(self, br: BookRisk, s: PortfolioSlice) -> BookScenarioRisk:
        return book_scenario_risk(s, self.config.grid_for(br.underlying),
                                  self.margins.get(br.key))

    def _material(self, old: RiskKey | None, new: RiskKey) -> bool:
        if old is None:
            return True
        threshold = self.config.risk_change_threshold
        worst_old, worst_new = float(old[0] or 0.0), float(new[0] or 0.0)
        if abs(worst_new - worst_old) > threshold * max(worst_old, _LOSS_FLOOR_USD):
            return True
        for a, b in ((old[1], new[1]), (old[2], new[2])):
            if (a is None) != (b is None):
                return True
            if a is not None and b is not None and abs(b - a) > threshold * max(abs(a), 1e-3):
                return True
        return False

    def _watches_liq(self, br: BookRisk) -> bool:
        """Whether the key's liquidation distance is checked: a limit, or a breach open."""
        limits = self.limits.get(br.key)
        return ((limits is not None and limits.min_liq_distance is not None)
                or "liq_distance" in br.breaches)

    def _liq_breach(self, br: BookRisk, report: BookScenarioRisk, ev: Any) -> list[Output]:
        if not self._watches_liq(br):
            return []
        limits = self.limits.get(br.key)
        limit = None if limits is None else limits.min_liq_distance
        liq = report.liquidation
        moves = [] if liq is None else [abs(m) for m in (liq.move_down, liq.move_up)
                                        if m is not None]
        distance = min(moves) if moves else None
        hysteresis = 0.0 if limits is None else limits.breach_hysteresis
        breached = is_breached(distance, limit, False, "liq_distance" in br.breaches, hysteresis)
        return self._breach_state(br, "liq_distance", distance, limit, breached, ev)

    # ------------------------------------------------------------------ helpers

    def _known_instrument(self, instrument_id: str) -> InstrumentState:
        inst = self.instruments.get(instrument_id)
        if inst is None:
            raise Rejection(
                "unknown_instrument",
                f"instrument {instrument_id} has not been defined; "
                "publish its `instrument` event first",
            )
        return inst

    def _book(self, book: str, underlying: str) -> BookRisk:
        return self.state.book(book, underlying)

    def _rejected(
        self, reason: RejectReason, detail: str, source: str, raw: str, ts: int | None
    ) -> Rejected:
        raw, detail, source = _utf8(raw), _utf8(detail), _utf8(source)
        return Rejected(
            event_id=output_id("rejected", source, raw),
            ts=ts if guards.ts_in_range(ts) else None,
            reason=reason,
            detail=guards.clip_detail(detail),
            source=source,
            raw=guards.clip_raw(raw),
        )

    # ------------------------------------------------------------------ as-of views

    def exposures(self, as_of_us: int) -> list[ExposureValues]:
        """Every visible (book, underlying), revalued from scratch at ``as_of_us``."""
        rows: list[ExposureValues] = []
        for key in sorted(self.books):
            br = self.books[key]
            if br.underlying not in self.underlyings:
                continue
            fresh = BookRisk(br.book, br.underlying)
            fresh.positions = br.positions
            for iid, qty in br.positions.items():
                g = contract_greeks(self.instruments[iid], as_of_us)
                fresh.totals.add(qty, g.delta, g.gamma, g.vega, g.theta, g.vanna, g.volga)
                fresh.live_positions += g.live
            pnl = self.pnl_as_of(key, as_of_us)
            rows.append(replace(self.exposure_values(fresh, as_of_us), pnl=pnl.as_dict()))
        return rows

    def pnl_as_of(self, key: tuple[str, str], as_of_us: int) -> PnlValues:
        """A (book, underlying)'s P&L with every position revalued at ``as_of_us``."""
        return self.pnl.values(
            key, self.instruments,
            lambda iid: contract_greeks(self.instruments[iid], as_of_us), as_of_us,
        )

    def slices(self, as_of_us: int, book: str | None = None) -> list[PortfolioSlice]:
        """Every visible (book, underlying) as arrays valued at ``as_of_us`` (sorted)."""
        return [
            build_slice(self.state, self.books[key], as_of_us, self.pnl.rates)
            for key in sorted(self.books)
            if (book is None or key[0] == book) and key[1] in self.underlyings
        ]

    # ------------------------------------------------------------------ checkpoints

    def snapshot(self, book_filter: BookFilter | None = None, market: bool = True) -> bytes:
        """Deterministic bytes of the market state and of the books passing the filter."""
        return snapshot.dump(self.state, book_filter, market)

    def restore(self, blob: bytes) -> None:
        """Load a snapshot; the books it holds replace the same books here."""
        snapshot.load(self.state, blob)
        self.pnl.reprice_all(self.instruments, self.greeks)
        self._oracle_memo.clear()
        self._journal.reset()
        self._sync_intents()

    def drop_books(self, book_filter: BookFilter) -> None:
        """Forget every book passing the filter (after its partition moved elsewhere)."""
        self._journal.reset()
        self.state.drop_books(book_filter)
        self.chains.drop(book_filter)
        self._sync_intents()

    def _sync_intents(self) -> None:
        self.intents = IntentTracker()
        for key in sorted(self.books):
            pending = self.books[key].pending
            if pending is not None:
                self.intents.opened(key, pending.expires_us)

    def loans(self) -> list[Loan]:
        """Every open loan, in (book, position_id) order (the cascade's population)."""
        return self.chain.loans()

    def margin(self, book: str, underlying: str) -> tuple[float, float] | None:
        return self.margins.get((book, underlying))

    def index_price(self, asset: str) -> float | None:
        return onchain_state.asset_price(asset, self.index)


def _tick(next_us: int | None, interval_s: float, ts: int) -> tuple[bool, int]:
    """An event-time interval aligned to the epoch: (is a tick due at ``ts``, the next
    boundary). The first event only sets the boundary; an event past it is the tick."""
    interval = round(interval_s * MICROS_PER_SECOND)  # 8.2 s: 8,200,000 µs, not 8199999
    if next_us is not None and ts < next_us:
        return False, next_us
    return next_us is not None, (ts // interval + 1) * interval


def _scaled(limit: float | None, factor: float) -> float | None:
    return None if limit is None else limit * factor


_INTERVALS = ("revaluation_interval_s", "risk_interval_s", "var_interval_s",
              "oracle_max_age_s", "dedup_window_s")


def _check_intervals(config: EngineConfig) -> None:
    for name in _INTERVALS:
        value = getattr(config, name)
        if not guards.MIN_INTERVAL_S <= value <= guards.MAX_INTERVAL_S:
            raise ValueError(f"{name} must be from {guards.MIN_INTERVAL_S:g} to "
                             f"{guards.MAX_INTERVAL_S:g} seconds, not {value!r}")
    if not config.emit_interval_ms <= guards.MAX_INTERVAL_S * 1000:
        raise ValueError(f"emit_interval_ms must be at most {guards.MAX_INTERVAL_S * 1000:g}, "
                         f"not {config.emit_interval_ms!r}")


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw


def _utf8(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate (a ``str`` record can hold one;
    bytes decode with replacement) becomes "?", so its rejection encodes and chains."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")
    return text


__all__ = ["ON_CHAIN_TYPES", "Engine", "EngineConfig", "Output", "Rejection", "output_id"]
