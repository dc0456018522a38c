"""Small builders of input-event records (JSON bytes) for unit tests of the pure core."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from greekstream.core.chain import source_stream

if TYPE_CHECKING:
    from greekstream.core.engine import Engine

T0 = "2026-03-01T00:00:00Z"
EXPIRY = "2026-03-27T08:00:00Z"


def ts(seconds: float) -> str:
    """T0 plus some seconds, as RFC 3339."""
    from greekstream.core.timeutil import format_ts, parse_ts

    return format_ts(parse_ts(T0) + int(seconds * 1_000_000))


def rec(type_: str, event_id: str, at: float, **fields: Any) -> bytes:
    return orjson.dumps({"type": type_, "event_id": event_id, "ts": ts(at), **fields})


def option(iid: str, strike: float, kind: str = "call", settlement: str = "inverse",
           expiry: str = EXPIRY, size: float = 1.0, at: float = 0) -> bytes:
    return rec("instrument", f"def-{iid}", at, instrument_id=iid, kind="option", underlying="BTC",
               settlement=settlement, contract_size=size, expiry=expiry, strike=strike,
               option_type=kind)


def perp(iid: str = "BTC-PERPETUAL", settlement: str = "inverse", size: float = 10.0) -> bytes:
    return rec("instrument", f"def-{iid}", 0, instrument_id=iid, kind="perpetual",
               underlying="BTC", settlement=settlement, contract_size=size)


def quote_opt(eid: str, at: float, iid: str, fwd: float, iv: float) -> bytes:
    return rec("quote", eid, at, instrument_id=iid, underlying_price=fwd, mark_iv=iv)


def quote_mark(eid: str, at: float, iid: str, mark: float) -> bytes:
    return rec("quote", eid, at, instrument_id=iid, mark_price=mark)


def trade(eid: str, at: float, iid: str, side: str, qty: float, book: str = "desk-a",
          price: float = 1.0, fee: float | None = None) -> bytes:
    extra = {} if fee is None else {"fee": fee}
    return rec("trade", eid, at, book=book, instrument_id=iid, side=side, quantity=qty,
               price=price, **extra)


def funding(eid: str, at: float, iid: str, rate: float) -> bytes:
    return rec("funding", eid, at, instrument_id=iid, rate=rate)


def index(eid: str, at: float, price: float, underlying: str = "BTC") -> bytes:
    return rec("index", eid, at, underlying=underlying, price=price)


def limits(eid: str, at: float, book: str = "desk-a", **fields: Any) -> bytes:
    return rec("limits", eid, at, book=book, underlying="BTC", **fields)


def tick(eid: str, at: float) -> bytes:
    return rec("tick", eid, at)


def short_call_book(call: str) -> Engine:
    """An engine whose desk-a is short 40 of the BTC call ``call`` (strike 60000), quoted,
    with an index, at ts(3): the book the report tests draw their tables from."""
    from greekstream.core.engine import Engine

    engine = Engine()
    for i, raw in enumerate([option(call, 60000), index("x0", 1, 61000),
                             quote_opt("q0", 2, call, 61200, 0.62),
                             trade("t1", 3, call, "sell", 40)]):
        engine.handle(raw, f"t:{i}")
    return engine


def parse(text: str) -> int:
    from greekstream.core.timeutil import parse_ts

    return parse_ts(text)


def unchanged_but_rejection_chain(before: bytes, after: bytes, rejected: list[Any]) -> bool:
    """A rejection changes no state but the head of the market-wide hash chain, which
    moves to the rejection's own hash (SPEC v2: every output is chained; core/chain.py)."""
    a, b = orjson.loads(before), orjson.loads(after)
    chains_a, chains_b = a.pop("chains"), b.pop("chains")
    heads = {(k[0], k[1]): k[2] for k in chains_b["market"]}
    moved = {(k[0], k[1]): k[2] for k in chains_a["market"]}
    for r in rejected:
        moved[("", source_stream(r.source))] = r.hash
    return a == b and heads == moved
