"""Per-contract Greeks of one instrument from its latest quote, at one moment.

Per contract (SPEC.md *Greeks*, q = 1 contract):
  option (linear or inverse): Black-76 per coin × contract_size (inverse: net transaction delta)
  linear future, perpetual, spot: delta = contract_size
  inverse future, perpetual: delta = contract_size / mark_price
"""

from __future__ import annotations

from dataclasses import dataclass

from greekstream.core.greeks import black76_scalar
from greekstream.core.timeutil import year_fraction


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

    @property
    def is_option(self) -> bool:
        return self.kind == "option"

    def quoted(self) -> bool:
        if self.is_option:
            return self.forward is not None and self.vol is not None
        return self.mark is not None or not self.inverse


@dataclass(slots=True, frozen=True)
class ContractGreeks:
    """Greeks of one contract; ``valued`` is False where no quote makes them knowable."""

    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    valued: bool = False
    live: bool = True


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
        g = black76_scalar(
            inst.forward,
            inst.strike,
            year_fraction(at_us, inst.expiry_us),
            inst.vol,
            inst.is_call,
            inst.inverse,
        )
        cs = inst.contract_size
        return ContractGreeks(g.delta * cs, g.gamma * cs, g.vega * cs, g.theta * cs, True)
    if inst.kind == "future" and inst.expiry_us is not None and inst.expiry_us <= at_us:
        return EXPIRED
    if not inst.inverse:
        return ContractGreeks(delta=inst.contract_size, valued=True)
    if inst.mark is None:
        return UNVALUED
    return ContractGreeks(delta=inst.contract_size / inst.mark, valued=True)
