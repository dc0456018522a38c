"""Per-contract Greeks of one instrument from its latest quote, at one moment.

Per contract (docs/contract.md *Greeks*, q = 1 contract):
  option (linear or inverse): Black-76 per coin × contract_size (inverse: net transaction delta)
  linear future, perpetual, spot: delta = contract_size
  inverse future, perpetual: delta = contract_size / mark_price
Options also carry their value (USD per contract) and vanna/volga (greeks.vanna_volga).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from greekstream.core.greeks import black76, black76_full_scalar, vanna_volga
from greekstream.core.records import record
from greekstream.core.timeutil import MICROS_PER_SECOND, SECONDS_PER_YEAR, year_fraction


@dataclass(slots=True)
class InstrumentState:
    instrument_id: str
    kind: str
    underlying: str
    inverse: bool
    contract_size: float
    expiry_us: int | None
    strike: float | None
    is_call: bool
    forward: float | None = None
    vol: float | None = None
    mark: float | None = None
    quote_ts: int | None = None
    interval_h: float = 8.0  # perpetuals: hours per funding interval

    @property
    def is_option(self) -> bool:
        return self.kind == "option"

    def quoted(self) -> bool:
        if self.is_option:
            return self.forward is not None and self.vol is not None
        return self.mark is not None or not self.inverse


@record
class ContractGreeks:
    """Greeks of one contract; ``valued`` is False where no quote makes them knowable."""

    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    valued: bool = False
    live: bool = True
    value: float = 0.0  # options: Black-76 value in USD per contract
    vanna: float = 0.0
    volga: float = 0.0


UNVALUED = ContractGreeks()
EXPIRED = ContractGreeks(valued=True, live=False)


def contract_greeks(inst: InstrumentState, at_us: int) -> ContractGreeks:
    """The instrument's per-contract Greeks at ``at_us`` from its latest quote."""
    if inst.is_option:
        assert inst.expiry_us is not None and inst.strike is not None
        if inst.expiry_us <= at_us:
            return EXPIRED
        if inst.forward is None or inst.vol is None:
            return UNVALUED
        g, vanna, volga = black76_full_scalar(
            inst.forward,
            inst.strike,
            year_fraction(at_us, inst.expiry_us),
            inst.vol,
            inst.is_call,
            inst.inverse,
        )
        cs = inst.contract_size
        return ContractGreeks(g.delta * cs, g.gamma * cs, g.vega * cs, g.theta * cs, True, True,
                              g.value * cs, vanna * cs, volga * cs)
    if inst.kind == "future" and inst.expiry_us is not None and inst.expiry_us <= at_us:
        return EXPIRED
    if not inst.inverse:
        return ContractGreeks(delta=inst.contract_size, valued=True)
    if inst.mark is None:
        return UNVALUED
    return ContractGreeks(delta=inst.contract_size / inst.mark, valued=True)


def revalue_many(instruments: Iterable[InstrumentState], at_us: int) -> dict[str, ContractGreeks]:
    """Per-contract Greeks of many instruments at one moment: quoted live options in one
    vectorized Black-76 call, everything else through :func:`contract_greeks`."""
    result: dict[str, ContractGreeks] = {}
    live: list[InstrumentState] = []
    for inst in instruments:
        if (
            inst.is_option
            and inst.forward is not None
            and inst.vol is not None
            and inst.expiry_us is not None
            and inst.expiry_us > at_us
        ):
            live.append(inst)
        else:
            result[inst.instrument_id] = contract_greeks(inst, at_us)
    if not live:
        return result
    size = np.array([i.contract_size for i in live])
    forward = np.array([i.forward for i in live])
    strike = np.array([i.strike for i in live])
    years = (np.array([i.expiry_us for i in live], dtype=np.float64) - at_us) / (
        MICROS_PER_SECOND * SECONDS_PER_YEAR
    )
    vol = np.array([i.vol for i in live])
    inverse = np.array([i.inverse for i in live])
    g = black76(forward, strike, years, vol, np.array([i.is_call for i in live]), inverse)
    so = vanna_volga(forward, strike, years, vol, inverse)
    rows = zip(
        (g.delta * size).tolist(),
        (g.gamma * size).tolist(),
        (g.vega * size).tolist(),
        (g.theta * size).tolist(),
        (g.value * size).tolist(),
        (so.vanna * size).tolist(),
        (so.volga * size).tolist(),
        strict=True,
    )
    for inst, (d, ga, v, t, val, va, vo) in zip(live, rows, strict=True):
        result[inst.instrument_id] = ContractGreeks(d, ga, v, t, True, True, val, va, vo)
    return result
