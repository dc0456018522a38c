"""Engine state as deterministic JSON bytes, for checkpoints and recovery.

Cached Greeks and book totals are stored exactly (orjson round-trips floats), so an
engine restored from a snapshot produces byte-identical outputs to one that never
stopped. Sets are stored sorted so equal states give equal bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from greekstream.core.books import BookRisk, OpenBreach, PendingIntent, Totals
from greekstream.core.events import Limits, decode_event, encode_input
from greekstream.core.oracle import OracleState
from greekstream.core.valuation import ContractGreeks, InstrumentState

if TYPE_CHECKING:
    from greekstream.core.engine import Engine

VERSION = 3  # 3: P&L ledger, vanna/volga
_INSTRUMENT_FIELDS = InstrumentState.__slots__


def dump(engine: Engine, book_filter: Callable[[str], bool] | None, market: bool) -> bytes:
    keep = book_filter or (lambda _book: True)
    doc: dict[str, Any] = {"version": VERSION}
    if market:
        doc["market"] = {
            "clock": engine.clock,
            "next_reval_us": engine.next_reval_us,
            "next_risk_us": engine.next_risk_us,
            "next_var_us": engine.next_var_us,
            "duplicates": engine.duplicates,
            "late_quotes": engine.late_quotes,
            "instruments": [
                [getattr(inst, f) for f in _INSTRUMENT_FIELDS]
                for inst in engine.instruments.values()
            ],
            "greeks": {iid: list(_greeks_tuple(g)) for iid, g in engine.greeks.items()},
            "underlyings": list(engine.underlyings),
            "index": engine.index,
            "seen": sorted(engine.seen.get("", ())),
            "oracle": engine.oracle.to_dict(),
            "pnl": engine.pnl.dump_market(),
        }
    books = [br for br in engine.books.values() if keep(br.book)]
    book_names = sorted({br.book for br in books} | {b for b, _ in engine.limits if keep(b)})
    doc["books"] = [_dump_book(engine, br) for br in books]
    doc["limits"] = [
        orjson.loads(encode_input(ev)) for key, ev in engine.limits.items() if keep(key[0])
    ]
    doc["margins"] = [[k[0], k[1], v[0], v[1]] for k, v in engine.margins.items() if keep(k[0])]
    doc["collateral"] = [[k[0], k[1], v] for k, v in engine.collateral.items() if keep(k[0])]
    doc["pnl"] = engine.pnl.dump_books(keep)
    doc["seen"] = {b: sorted(engine.seen.get(b, ())) for b in book_names}
    doc["chain_log"] = {
        chain: [orjson.loads(encode_input(e)) for e in events if keep(e.book)]
        for chain, events in engine.chain.log.items()
    }
    doc["positions"] = {
        pid: [orjson.loads(encode_input(e)) for e in events]
        for pid, events in engine.chain.history.items()
        if events and keep(events[0].book)
    }
    return orjson.dumps(doc)


def _greeks_tuple(g: ContractGreeks) -> tuple[float | bool, ...]:
    return (g.delta, g.gamma, g.vega, g.theta, g.valued, g.live, g.value, g.vanna, g.volga)


def _dump_book(engine: Engine, br: BookRisk) -> dict[str, Any]:
    t = br.totals
    return {
        "book": br.book,
        "underlying": br.underlying,
        "positions": br.positions,
        "live_positions": br.live_positions,
        "totals": [t.delta, t.gamma, t.vega, t.theta, t.vanna, t.volga],
        "breaches": {m: [b.breach_id, b.limit] for m, b in br.breaches.items()},
        "pending": None
        if br.pending is None
        else [br.pending.intent_id, br.pending.instrument_id, br.pending.expires_us],
        "last_emitted": br.last_emitted,
        "risk_last": br.risk_last,
        "risk_drift": br.risk_drift,
    }


def load(engine: Engine, blob: bytes) -> None:
    """Load a snapshot into ``engine``: market state (if present) and the books it holds."""
    doc = orjson.loads(blob)
    if doc.get("version") != VERSION:
        raise ValueError(f"snapshot version {doc.get('version')} is not {VERSION}")
    market = doc.get("market")
    if market is not None:
        _load_market(engine, market)
    books = {b["book"] for b in doc["books"]} | {x["book"] for x in doc["limits"]}
    engine.drop_books(lambda book: book in books)
    for b in doc["books"]:
        br = engine._book(b["book"], b["underlying"])
        br.positions = dict(b["positions"])
        br.totals = Totals(*b["totals"])
        br.live_positions = b["live_positions"]
        br.breaches = {m: OpenBreach(v[0], v[1]) for m, v in b["breaches"].items()}
        br.pending = None if b["pending"] is None else PendingIntent(*b["pending"])
        br.last_emitted = None if b["last_emitted"] is None else tuple(b["last_emitted"])
        br.risk_last = None if b["risk_last"] is None else tuple(b["risk_last"])
        br.risk_drift = b["risk_drift"]
        for iid in br.positions:
            engine.holders.setdefault(iid, {})[br.key] = None
    for raw in doc["limits"]:
        ev = decode_event(orjson.dumps(raw))
        assert isinstance(ev, Limits)
        engine.limits[(ev.book, ev.underlying)] = ev
    for book, und, equity, mm in doc["margins"]:
        engine.margins[(book, und)] = (equity, mm)
    for book, asset, amount in doc["collateral"]:
        engine.collateral[(book, asset)] = amount
    engine.pnl.load_books(doc["pnl"])
    for book, ids in doc["seen"].items():
        engine.seen.setdefault(book, set()).update(ids)
    for chain, events in doc["chain_log"].items():
        log = engine.chain.log.setdefault(chain, [])
        log.extend(decode_event(orjson.dumps(e)) for e in events)
    for pid, events in doc["positions"].items():
        engine.chain.history[pid] = [decode_event(orjson.dumps(e)) for e in events]
        engine.chain._refresh(pid)


def _load_market(engine: Engine, market: dict[str, Any]) -> None:
    engine.clock = market["clock"]
    engine.next_reval_us = market["next_reval_us"]
    engine.next_risk_us = market["next_risk_us"]
    engine.next_var_us = market.get("next_var_us")
    engine.duplicates = market["duplicates"]
    engine.late_quotes = market.get("late_quotes", 0)
    engine.instruments = {
        row[0]: InstrumentState(**dict(zip(_INSTRUMENT_FIELDS, row, strict=True)))
        for row in market["instruments"]
    }
    engine.greeks = {iid: ContractGreeks(*g) for iid, g in market["greeks"].items()}
    engine.underlyings = dict.fromkeys(market["underlyings"])
    engine.index = dict(market["index"])
    engine.seen[""] = set(market["seen"])
    engine.oracle = OracleState.from_dict(market["oracle"], engine.oracle.config)
    engine.pnl.load_market(market["pnl"])
