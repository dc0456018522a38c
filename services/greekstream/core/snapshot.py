"""Engine state as deterministic JSON bytes, for checkpoints and recovery.

Cached Greeks and book totals are stored exactly (orjson round-trips floats), so an
engine restored from a snapshot produces byte-identical outputs to one that never
stopped. Sets are stored sorted so equal states give equal bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from greekstream.core.books import BookRisk, Cause, OpenBreach, PendingIntent
from greekstream.core.events import Limits, decode_stored, encode_input
from greekstream.core.oracle import OracleState
from greekstream.core.regime import VolState
from greekstream.core.state import EngineState
from greekstream.core.valuation import ContractGreeks, InstrumentState

VERSION = 6  # 3: P&L ledger, vanna/volga; 4: the open emission window; 5: seen ids with
# their ts (the dedup window), quote ids (core/dedup.py); 6: hash chains, regimes, bid/ask
# (6 grows by addition: a field or row element absent from an older 6 loads as before it
# was added, e.g. a regimes row of six without its per-source prices)
_INSTRUMENT_FIELDS = InstrumentState.__slots__


def dump(state: EngineState, book_filter: Callable[[str], bool] | None, market: bool) -> bytes:
    keep = book_filter or (lambda _book: True)
    doc: dict[str, Any] = {"version": VERSION}
    if market:
        doc["market"] = {
            "clock": state.clock,
            "market_clock": state.market_clock,
            "next_reval_us": state.next_reval_us,
            "next_risk_us": state.next_risk_us,
            "next_var_us": state.next_var_us,
            "window_end_us": state.window_end_us,
            "duplicates": state.duplicates,
            "late_quotes": state.late_quotes,
            "instruments": [
                [getattr(inst, f) for f in _INSTRUMENT_FIELDS]
                for inst in state.instruments.values()
            ],
            "greeks": {iid: list(_greeks_tuple(g)) for iid, g in state.greeks.items()},
            "underlyings": list(state.underlyings),
            "index": state.index,
            "seen": state.seen.dump("", state.dedup_clock("")),
            "quote_ids": state.quote_ids.dump(),
            "oracle": state.oracle.to_dict(),
            "pnl": state.pnl.dump_market(),
            "regimes": {u: st.as_list() for u, st in state.regimes.items()},
            "bid_ask": {iid: list(q) for iid, q in state.bid_ask.items()},
        }
    books = [br for br in state.books.values() if keep(br.book)]
    # every book whose ids are kept: one with only a margin (or collateral) record has no
    # position or limits, and its ids must still survive a restore (a redelivery is a
    # duplicate after it as before it)
    book_names = sorted({br.book for br in books} | {b for b, _ in state.limits if keep(b)}
                        | {scope for scope in state.seen.ids if scope and keep(scope)})
    doc["books"] = [_dump_book(br, state.dirty.get(br.key)) for br in books]
    doc["book_windows"] = {b: w for b, w in sorted(state.book_windows.items()) if keep(b)}
    doc["limits"] = [
        orjson.loads(encode_input(ev)) for key, ev in state.limits.items() if keep(key[0])
    ]
    doc["margins"] = [[k[0], k[1], v[0], v[1]] for k, v in state.margins.items() if keep(k[0])]
    doc["collateral"] = [[k[0], k[1], v] for k, v in state.collateral.items() if keep(k[0])]
    doc["pnl"] = state.pnl.dump_books(keep)
    doc["seen"] = {b: state.seen.dump(b, state.dedup_clock(b)) for b in book_names}
    doc["book_clocks"] = {b: t for b, t in sorted(state.book_clocks.items()) if keep(b)}
    doc["chain_log"] = {
        chain: [orjson.loads(encode_input(e)) for e in events if keep(e.book)]
        for chain, events in state.chain.log.items()
    }
    doc["chains"] = state.chains.dump(keep, market)
    doc["positions"] = [  # [book, position_id, events], in that order
        [book, pid, [orjson.loads(encode_input(e)) for e in events]]
        for (book, pid), events in sorted(state.chain.history.items())
        if events and keep(book)
    ]
    return orjson.dumps(doc)


def _greeks_tuple(g: ContractGreeks) -> tuple[float | bool, ...]:
    return (g.delta, g.gamma, g.vega, g.theta, g.valued, g.live, g.value, g.vanna, g.volga)


def _dump_book(br: BookRisk, dirty: Cause | None) -> dict[str, Any]:
    return {
        "book": br.book,
        "underlying": br.underlying,
        "positions": br.positions,
        "live_positions": br.live_positions,
        "totals": br.totals.values(),
        "breaches": {m: [b.breach_id, b.limit] for m, b in br.breaches.items()},
        "pending": None
        if br.pending is None
        else [br.pending.intent_id, br.pending.instrument_id, br.pending.expires_us],
        "last_emitted": br.last_emitted,
        "risk_last": br.risk_last,
        "risk_drift": br.risk_drift,
        "risk_window_end": br.risk_window_end,
        "dirty": None if dirty is None else [dirty.event_id, dirty.ts, dirty.tag],
    }


def load(state: EngineState, blob: bytes) -> None:
    """Load a snapshot into ``state``: market state (if present) and the books it holds."""
    doc = orjson.loads(blob)
    if doc.get("version") != VERSION:
        raise ValueError(f"snapshot version {doc.get('version')} is not {VERSION}")
    market = doc.get("market")
    if market is not None:
        _load_market(state, market)
    books = {b["book"] for b in doc["books"]} | {x["book"] for x in doc["limits"]}
    state.drop_books(lambda book: book in books)
    for b in doc["books"]:
        br = state.book(b["book"], b["underlying"])
        br.positions = dict(b["positions"])
        br.totals.set(b["totals"])
        br.live_positions = b["live_positions"]
        br.breaches = {m: OpenBreach(v[0], v[1]) for m, v in b["breaches"].items()}
        br.pending = None if b["pending"] is None else PendingIntent(*b["pending"])
        br.last_emitted = None if b["last_emitted"] is None else tuple(b["last_emitted"])
        br.risk_last = None if b["risk_last"] is None else tuple(b["risk_last"])
        # (JSON has no inf: a drift that must re-run the matrix, an unpriced trade's, is
        # written as null)
        drift = b["risk_drift"]
        br.risk_drift = math.inf if drift is None else drift
        br.risk_window_end = b["risk_window_end"]
        if b["dirty"] is not None:
            state.mark_dirty(br, Cause(*b["dirty"]))
        for iid in br.positions:
            state.holders.setdefault(iid, {})[br.key] = None
            state.holding_changed(iid)
    for raw in doc["limits"]:
        ev = decode_stored(orjson.dumps(raw))
        assert isinstance(ev, Limits)
        state.limits[(ev.book, ev.underlying)] = ev
    for book, und, equity, mm in doc["margins"]:
        state.margins[(book, und)] = (equity, mm)
    for book, asset, amount in doc["collateral"]:
        state.collateral[(book, asset)] = amount
    # (absent from a snapshot written before the processor's windows were per book)
    state.book_windows.update(doc.get("book_windows", {}))
    state.book_clocks.update(doc.get("book_clocks", {}))  # (absent before: none)
    state.pnl.load_books(doc["pnl"])
    for book, pairs in doc["seen"].items():
        state.seen.load(book, pairs)
    for chain, events in doc["chain_log"].items():
        log = state.chain.log.setdefault(chain, [])
        log.extend(decode_stored(orjson.dumps(e)) for e in events)
    state.chains.load(doc["chains"])
    positions = doc["positions"]
    if isinstance(positions, dict):  # (before positions were per book: {position_id: events})
        positions = [[None, pid, events] for pid, events in positions.items()]
    loaded: dict[tuple[str, str], list[Any]] = {}
    for _book, pid, events in positions:
        for event in (decode_stored(orjson.dumps(e)) for e in events):
            loaded.setdefault((event.book, pid), []).append(event)
    for key, events in loaded.items():  # (they replace the same positions here)
        state.chain.history[key] = events
        state.chain._refresh(key)


def _load_market(state: EngineState, market: dict[str, Any]) -> None:
    state.clock = market["clock"]
    state.market_clock = market.get("market_clock")  # (absent before ts_ahead)
    state.next_reval_us = market["next_reval_us"]
    state.next_risk_us = market["next_risk_us"]
    state.next_var_us = market.get("next_var_us")
    state.window_end_us = market["window_end_us"]
    state.duplicates = market["duplicates"]
    state.late_quotes = market.get("late_quotes", 0)
    state.instruments = {
        row[0]: InstrumentState(**dict(zip(_INSTRUMENT_FIELDS, row, strict=True)))
        for row in market["instruments"]
    }
    state.greeks = {iid: ContractGreeks(*g) for iid, g in market["greeks"].items()}
    state.underlyings = dict.fromkeys(market["underlyings"])
    state.index = dict(market["index"])
    state.seen.drop_scopes(lambda scope: scope == "")
    state.seen.load("", market["seen"])
    state.quote_ids.load(market.get("quote_ids", {}))
    state.oracle = OracleState.from_dict(market["oracle"], state.oracle.config)
    state.pnl.load_market(market["pnl"])
    # (a row of six, written before the estimator kept its sources: core/regime.py)
    state.regimes = {u: VolState.from_list(row, state.oracle.latest.get(u, {}))
                     for u, row in market["regimes"].items()}
    state.bid_ask = {iid: (q[0], q[1]) for iid, q in market["bid_ask"].items()}
