"""Vega by expiry (the term structure of a book's vol exposure), valued at one moment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from greekstream.core.timeutil import format_ts
from greekstream.core.valuation import contract_greeks

if TYPE_CHECKING:
    from greekstream.core.engine import Engine

VEGA_COLUMNS = ("book", "underlying", "expiry", "vega")  # each row's keys, in order


def vega_by_expiry(engine: Engine, as_of_us: int) -> list[dict[str, object]]:
    """Per visible (book, underlying) and live option expiry: Σ q·vega (USD per vol
    point) at ``as_of_us``, sorted by (book, underlying, expiry)."""
    rows: list[dict[str, object]] = []
    for key in sorted(engine.books):
        br = engine.books[key]
        if br.underlying not in engine.underlyings:
            continue
        by_expiry: dict[int, float] = {}
        for iid, qty in br.positions.items():
            inst = engine.instruments[iid]
            if not inst.is_option or inst.expiry_us is None or inst.expiry_us <= as_of_us:
                continue
            g = contract_greeks(inst, as_of_us)
            by_expiry[inst.expiry_us] = by_expiry.get(inst.expiry_us, 0.0) + qty * g.vega
        rows.extend(
            dict(zip(VEGA_COLUMNS, (br.book, br.underlying, format_ts(expiry),
                                    by_expiry[expiry]), strict=True))
            for expiry in sorted(by_expiry)
        )
    return rows
