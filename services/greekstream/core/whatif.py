"""What-if: hypothetical trades applied to a copy of the engine (docs/execution.md).

    preview = what_if(engine, "desk-a", [HypotheticalTrade(...), ...])

The copy is made from the engine's snapshot (restore is byte-exact), the trades are
applied to it at the engine's clock like real trades, and the book's numbers are
read before and after. The engine itself is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from greekstream.core.events import Breach, HedgeIntent, Trade, encode

if TYPE_CHECKING:
    from greekstream.core.engine import Engine

GREEKS = ("delta", "delta_equity", "gamma", "vega", "theta", "delta_usd")


@dataclass(frozen=True)
class HypotheticalTrade:
    instrument_id: str
    side: Literal["buy", "sell"]
    quantity: float
    price: float | None = None  # default: the instrument's mark (USD per coin)


class WhatIfError(ValueError):
    """A hypothetical trade the engine would reject (unknown instrument, bad quantity)."""


def what_if(engine: Engine, book: str, trades: list[HypotheticalTrade]) -> dict[str, Any]:
    """For each underlying of ``book`` the trades touch or the book holds: the Greeks
    before, after and their change, the worst scenario loss and the liquidation
    distance after, and the breaches and hedge intents the trades would cause."""
    from greekstream.core.engine import Engine

    if engine.clock is None:
        raise WhatIfError("the engine has no state yet: replay events first")
    at = engine.clock
    copy = Engine(engine.config)
    copy.restore(engine.snapshot())
    before = {r.underlying: r for r in _rows(copy, book, at)}
    caused: list[Any] = []
    for i, t in enumerate(trades):
        event = _trade_event(copy, book, t, i, at)
        out = copy.apply(event, f"what-if:{i + 1}")
        rejected = [o for o in out if o.type == "rejected"]
        if rejected:
            raise WhatIfError(f"trade {i + 1}: {rejected[0].reason}: {rejected[0].detail}")
        caused.extend(out)
    rows = []
    for r in _rows(copy, book, at):
        was = before.get(r.underlying)
        br = copy.books[(book, r.underlying)]
        worst, moves = None, []
        if len(copy.config.grid_for(r.underlying)):  # stablecoins have no price grid
            risk = copy.book_risk(br, at)
            worst, liq = risk.matrix.worst_loss, risk.liquidation
            moves = [] if liq is None else [abs(m) for m in (liq.move_down, liq.move_up)
                                            if m is not None]
        after = {g: getattr(r, g) for g in GREEKS}
        prior = {g: (getattr(was, g) if was is not None else 0.0) for g in GREEKS}
        rows.append({
            "underlying": r.underlying,
            "before": prior,
            "after": after,
            "change": {g: _minus(after[g], prior[g]) for g in GREEKS},
            "worst_loss_usd": worst,
            "liq_distance": min(moves) if moves else None,
        })
    return {
        "book": book,
        "as_of": at,
        "trades": len(trades),
        "underlyings": rows,
        "breaches_opened": [_plain(o) for o in caused
                            if isinstance(o, Breach) and o.state == "open"],
        "breaches_cleared": [_plain(o) for o in caused
                             if isinstance(o, Breach) and o.state == "cleared"],
        "hedge_intents": [_plain(o) for o in caused if isinstance(o, HedgeIntent)],
    }


def _rows(engine: Engine, book: str, at: int) -> list[Any]:
    keys = sorted(k for k in engine.books if k[0] == book and k[1] in engine.underlyings)
    return [engine.exposure_values(engine.books[k], at) for k in keys]


def _trade_event(engine: Engine, book: str, t: HypotheticalTrade, i: int, at: int) -> Trade:
    inst = engine.instruments.get(t.instrument_id)
    if inst is None:
        raise WhatIfError(f"trade {i + 1}: unknown instrument {t.instrument_id!r}")
    if not t.quantity > 0:
        raise WhatIfError(f"trade {i + 1}: quantity must be > 0 (side says the direction)")
    price = t.price if t.price is not None else (
        engine._value_per_coin(inst, at) if inst.is_option else inst.mark) or 1.0
    return Trade.model_construct(
        type="trade", event_id=f"what-if-{i + 1}", ts=at, book=book,
        instrument_id=t.instrument_id, side=t.side, quantity=float(t.quantity),
        price=float(price),
    )


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _plain(event: Any) -> dict[str, Any]:
    import orjson

    fields: dict[str, Any] = orjson.loads(encode(event))
    for k in ("prev", "hash", "caused_by"):
        fields.pop(k, None)
    return fields


__all__ = ["HypotheticalTrade", "WhatIfError", "what_if"]
