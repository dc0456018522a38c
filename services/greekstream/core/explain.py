"""P&L explain (docs/contract.md *P&L explain*): a window's P&L of a (book, underlying) split into
Greeks terms, funding, new trades and a residual.

For the positions held at T0, with each instrument's own moves dF = F1 − F0 (option
forward, or mark), dσ = σ1 − σ0 and dt = (T1 − T0) in days, and the T0 Greeks of the
position's USD mark-to-market (docs/pnl.md):

    delta·dF, ½·gamma·dF², vega·100·dσ, theta·dt, vanna·dF·100·dσ, ½·volga·(100·dσ)²

``funding`` is what the key's perpetuals accrued in (T0, T1]; ``new_trades`` the P&L
of the trades in (T0, T1] from their price to the T1 valuation, net of their fees;
``actual`` the full revaluation of the T0 positions at T1 minus at T0, plus funding
and new trades. ``residual`` = actual − the sum of the others, and ``actual`` is then
re-formed as that sum, so the components, added left to right in COMPONENTS order,
give ``actual`` exactly (bit for bit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from greekstream.core.greeks import black76_scalar, vanna_volga_scalar
from greekstream.core.pnl import INVERSE, OPTION, kind_of
from greekstream.core.timeutil import MICROS_PER_SECOND, year_fraction
from greekstream.core.valuation import InstrumentState

COMPONENTS = ("delta", "gamma", "vega", "theta", "vanna", "volga", "funding", "new_trades",
              "residual")
_US_PER_DAY = 86400 * MICROS_PER_SECOND


@dataclass(frozen=True, slots=True)
class Mark:
    """An instrument's valuation inputs at one moment: option forward and vol, or mark;
    ``settle`` is the last forward/mark before expiry (for expired positions)."""

    forward: float | None = None
    vol: float | None = None
    mark: float | None = None
    settle: float | None = None

    @classmethod
    def of(cls, inst: InstrumentState, settle: float | None) -> Mark:
        return cls(inst.forward, inst.vol, inst.mark, settle)


@dataclass(frozen=True, slots=True)
class Held:
    """A position at T0: signed contracts and average entry (USD per coin)."""

    inst: InstrumentState
    qty: float
    avg: float


@dataclass(frozen=True, slots=True)
class WindowTrade:
    inst: InstrumentState
    signed: float
    price: float
    fee: float


def price_at(inst: InstrumentState, mark: Mark, at_us: int) -> float | None:
    """USD per coin at ``at_us`` (an option's Black-76 value, else the mark); None when
    unknown. Past expiry: intrinsic on the last forward before expiry (options) or the last
    mark before expiry, as the P&L (core/pnl.price_for_pnl): quotes at or after expiry do
    not move it, and without one before expiry the position is held at cost (None)."""
    expired = inst.expiry_us is not None and inst.expiry_us <= at_us
    if inst.is_option:
        assert inst.strike is not None and inst.expiry_us is not None
        if expired:
            f = mark.settle
            if f is None:
                return None
            return max(f - inst.strike if inst.is_call else inst.strike - f, 0.0)
        if mark.forward is None or mark.vol is None:
            return None
        return black76_scalar(mark.forward, inst.strike, year_fraction(at_us, inst.expiry_us),
                              mark.vol, inst.is_call).value
    if expired:
        return mark.settle
    return mark.mark


def position_value(inst: InstrumentState, qty: float, avg: float, price: float) -> float:
    """USD mark-to-market of ``qty`` contracts entered at ``avg``, at ``price``."""
    size = inst.contract_size
    if kind_of(inst) == INVERSE:
        return qty * size * (1.0 / avg - 1.0 / price) * price
    return qty * size * (price - avg)


def _taylor(h: Held, m0: Mark, m1: Mark, t0: int, t1: int) -> dict[str, float]:
    """The six Greeks terms of one position (per its USD value's T0 sensitivities)."""
    inst, size = h.inst, h.inst.contract_size
    terms = dict.fromkeys(COMPONENTS[:6], 0.0)
    if kind_of(inst) == OPTION:
        assert inst.strike is not None and inst.expiry_us is not None
        if (inst.expiry_us <= t0 or None in (m0.forward, m0.vol, m1.forward, m1.vol)):
            return terms
        f0, s0 = float(m0.forward), float(m0.vol)  # type: ignore[arg-type]
        df, dv = float(m1.forward) - f0, (float(m1.vol) - s0) * 100.0  # type: ignore[arg-type]
        years = year_fraction(t0, inst.expiry_us)
        g = black76_scalar(f0, inst.strike, years, s0, inst.is_call)  # USD delta (linear)
        vanna, volga = vanna_volga_scalar(f0, inst.strike, years, s0)
        q = h.qty * size
        days = (t1 - t0) / _US_PER_DAY
        terms.update(delta=q * g.delta * df, gamma=0.5 * q * g.gamma * df * df,
                     vega=q * g.vega * dv, theta=q * g.theta * days, vanna=q * vanna * df * dv,
                     volga=0.5 * q * volga * dv * dv)
        return terms
    p0, p1 = price_at(inst, m0, t0), price_at(inst, m1, t1)
    if p0 is None or p1 is None:
        return terms
    per_usd = size / h.avg if kind_of(inst) == INVERSE else size  # d(value)/d(mark)
    terms["delta"] = h.qty * per_usd * (p1 - p0)
    return terms


def explain_key(
    held: list[Held], marks0: dict[str, Mark], marks1: dict[str, Mark], trades: list[WindowTrade],
    funding: float, t0: int, t1: int,
) -> dict[str, float]:
    """One (book, underlying)'s explain over (t0, t1]: COMPONENTS and ``actual`` (USD)."""
    parts = dict.fromkeys(COMPONENTS, 0.0)
    revaluation = 0.0
    for h in held:
        iid = h.inst.instrument_id
        m0, m1 = marks0.get(iid, Mark()), marks1.get(iid, Mark())
        p0, p1 = price_at(h.inst, m0, t0), price_at(h.inst, m1, t1)
        if p1 is None:
            continue  # still held at cost at T1 (and so at T0): no P&L to explain
        if p0 is None:
            # held at cost at T0 (U = 0, as the P&L holds a position with no valuation yet)
            # and first valued in the window: its whole P&L is the residual's, no T0 Greeks
            revaluation += position_value(h.inst, h.qty, h.avg, p1)
            continue
        revaluation += position_value(h.inst, h.qty, h.avg, p1) - position_value(
            h.inst, h.qty, h.avg, p0)
        for name, value in _taylor(h, m0, m1, t0, t1).items():
            parts[name] += value
    for t in trades:
        p1 = price_at(t.inst, marks1.get(t.inst.instrument_id, Mark()), t1)
        value = 0.0 if p1 is None else position_value(t.inst, t.signed, t.price, p1)
        parts["new_trades"] += value - t.fee
    parts["funding"] = funding
    actual = revaluation + funding + parts["new_trades"]
    explained = 0.0
    for name in COMPONENTS[:-1]:
        explained += parts[name]
    parts["residual"] = actual - explained
    parts["actual"] = explained + parts["residual"]
    assert math.isfinite(parts["actual"])
    return parts
