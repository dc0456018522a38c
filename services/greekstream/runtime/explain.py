"""Run a P&L explain over a window of records (a file or stored history) with the engine.

The engine applies every record up to T0 (the state the window starts from), the
positions and marks are taken there, the records of (T0, T1] are applied while the
window's accepted trades are noted, and the marks are taken again at T1;
:func:`greekstream.core.explain.explain_key` does the arithmetic per (book, underlying).
Records are expected in event-time order (a file replay's order); records after T1
are not applied.
"""

from __future__ import annotations

from collections.abc import Iterable

from greekstream.core.decode import decode_event
from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import DecodeError
from greekstream.core.explain import Held, Mark, WindowTrade, explain_key
from greekstream.core.timeutil import format_ts
from greekstream.runtime.replay import Record

Key = tuple[str, str]


def _marks(engine: Engine) -> dict[str, Mark]:
    return {iid: Mark.of(inst, engine.pnl.settle.get(iid))
            for iid, inst in engine.instruments.items()}


def _held(engine: Engine) -> dict[Key, list[Held]]:
    return {key: [Held(engine.instruments[iid], lot.qty, lot.avg)
                  for iid, lot in lots.items() if lot.qty != 0.0]
            for key, lots in engine.pnl.lots.items()}


def _funding(engine: Engine) -> dict[Key, float]:
    return {key: sum(lot.funding for lot in lots.values())
            for key, lots in engine.pnl.lots.items()}


def explain_window(
    records: Iterable[Record], t0: int, t1: int, book: str | None = None,
    config: EngineConfig | None = None,
) -> list[dict[str, object]]:
    """Per (book, underlying) with positions at T0 or trades in the window, sorted: the
    explain of (t0, t1] as docs/contract.md's JSON object."""
    engine = Engine(config)
    start: tuple[dict[Key, list[Held]], dict[str, Mark], dict[Key, float]] | None = None
    trades: dict[Key, list[WindowTrade]] = {}
    for raw, source in records:
        try:
            event = decode_event(raw)
        except DecodeError:
            continue  # rejected: changes nothing
        if event.ts > t1:
            continue
        if event.ts > t0 and start is None:
            start = (_held(engine), _marks(engine), _funding(engine))
        duplicates = engine.duplicates
        outputs = engine.apply(event, source, raw)
        accepted = engine.duplicates == duplicates and not any(
            o.type == "rejected" for o in outputs)
        if start is not None and accepted and event.type == "trade":  # model or fast Struct
            inst = engine.instruments[event.instrument_id]
            signed = event.quantity if event.side == "buy" else -event.quantity
            trades.setdefault((event.book, inst.underlying), []).append(
                WindowTrade(inst, signed, event.price, event.fee or 0.0))
    if start is None:
        start = (_held(engine), _marks(engine), _funding(engine))
    held0, marks0, funding0 = start
    marks1, funding1 = _marks(engine), _funding(engine)
    keys = sorted(k for k in set(held0) | set(trades)
                  if (book is None or k[0] == book) and k[1] in engine.underlyings)
    rows: list[dict[str, object]] = []
    for key in keys:
        parts = explain_key(held0.get(key, []), marks0, marks1, trades.get(key, []),
                            funding1.get(key, 0.0) - funding0.get(key, 0.0), t0, t1)
        rows.append({"book": key[0], "underlying": key[1], "from": format_ts(t0),
                     "to": format_ts(t1), "actual": parts["actual"],
                     **{k: v for k, v in parts.items() if k != "actual"}})
    return rows
