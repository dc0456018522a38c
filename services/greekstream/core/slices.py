"""Build a :class:`PortfolioSlice` (arrays) from the engine's state of one (book, underlying)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from greekstream.core.books import BookRisk
from greekstream.core.events import Loan
from greekstream.core.onchain_state import Position, asset_price
from greekstream.core.portfolio import (
    InverseLegs,
    LinearLegs,
    LoanLegs,
    LpLegs,
    OptionLegs,
    PortfolioSlice,
)
from greekstream.core.state import EngineState
from greekstream.core.timeutil import MICROS_PER_SECOND, SECONDS_PER_YEAR


def build_slice(state: EngineState, br: BookRisk, as_of_us: int,
                funding_rates: Mapping[str, float] | None = None) -> PortfolioSlice:
    """``funding_rates``: each perpetual's last funding rate (per its interval), which a
    scenario's time shift accrues (docs/contract.md, *Funding of perpetuals*)."""
    rates = funding_rates or {}
    opt_ids: list[str] = []
    opt: list[tuple[float, float, float, float, int, bool, bool]] = []
    lin_ids: list[str] = []
    lin: list[tuple[float, float, float]] = []
    inv_ids: list[str] = []
    inv: list[tuple[float, float, float, float]] = []
    unvalued: list[str] = []
    instruments = state.instruments
    for iid, qty in br.positions.items():
        inst = instruments[iid]
        if inst.kind == "option":
            expiry = inst.expiry_us
            assert expiry is not None and inst.strike is not None
            if expiry <= as_of_us:
                continue
            if inst.forward is None or inst.vol is None:
                unvalued.append(iid)
                continue
            opt_ids.append(iid)
            opt.append((qty * inst.contract_size, inst.forward, inst.strike, inst.vol,
                        expiry - as_of_us, inst.is_call, inst.inverse))
        elif inst.kind == "future" and inst.expiry_us is not None and inst.expiry_us <= as_of_us:
            continue
        elif inst.mark is None:
            unvalued.append(iid)
        elif inst.inverse:
            inv_ids.append(iid)
            inv.append((qty, inst.contract_size, inst.mark,
                        rates.get(iid, 0.0) / inst.interval_h))
        else:
            lin_ids.append(iid)
            lin.append((qty * inst.contract_size, inst.mark,
                        rates.get(iid, 0.0) / inst.interval_h))
    options = OptionLegs()  # its own (it has a memo), however empty
    if opt:
        o = _columns(opt, 7)
        options = OptionLegs(
            q=o[0], forward=o[1], strike=o[2], vol=o[3],
            # (expiry − as_of) µs are exact in a float64 (< 2^53): one rounding, as
            # timeutil.year_fraction's int / float gives
            years=o[4] / (MICROS_PER_SECOND * SECONDS_PER_YEAR),
            is_call=o[5] > 0.5, inverse=o[6] > 0.5, instrument_ids=tuple(opt_ids),
        )
    linear = _NO_LINEAR
    if lin:
        li = _columns(lin, 3)
        linear = LinearLegs(q=li[0], mark=li[1], instrument_ids=tuple(lin_ids),
                            funding_per_h=li[2])
    inverse = _NO_INVERSE
    if inv:
        iv = _columns(inv, 4)
        inverse = InverseLegs(n=iv[0], contract_size=iv[1], mark=iv[2],
                              instrument_ids=tuple(inv_ids), funding_per_h=iv[3])
    onchain = state.chain.positions(br.book)
    return PortfolioSlice(
        book=br.book,
        underlying=br.underlying,
        as_of_us=as_of_us,
        index_price=state.index.get(br.underlying),
        collateral=state.collateral.get(br.key, 0.0),
        options=options,
        linear=linear,
        inverse=inverse,
        loans=_loans(state, br, onchain) if onchain else _NO_LOANS,
        lps=_lps(br, onchain) if onchain else _NO_LPS,
        unvalued=tuple(unvalued),
    )


# the legs of a slice that holds none of a kind (frozen, and their arrays are empty)
_NO_LINEAR, _NO_INVERSE, _NO_LOANS, _NO_LPS = LinearLegs(), InverseLegs(), LoanLegs(), LpLegs()


def _columns(rows: list[Any], width: int) -> np.ndarray:
    """Rows of numbers as contiguous float64 columns (bools as 1.0/0.0, None as NaN)."""
    if not rows:
        return np.zeros((width, 0), dtype=np.float64)
    return np.array(rows, dtype=np.float64).T.copy()


def _loans(state: EngineState, br: BookRisk, onchain: list[Position]) -> LoanLegs:
    u = br.underlying
    ids: list[str] = []
    rows: list[tuple[float, float | None, float, float | None, float, bool, bool]] = []
    for p in onchain:
        if isinstance(p, Loan) and u in (p.collateral_asset, p.debt_asset):
            pc = asset_price(p.collateral_asset, state.index)
            pd = asset_price(p.debt_asset, state.index)
            ids.append(p.position_id)
            rows.append((p.collateral_amount, pc, p.debt_amount, pd,
                         p.liquidation_threshold, p.collateral_asset == u, p.debt_asset == u))
    c = _columns(rows, 7)
    return LoanLegs(
        position_ids=tuple(ids), coll_amount=c[0], coll_price=c[1], debt_amount=c[2],
        debt_price=c[3], liquidation_threshold=c[4], coll_is_underlying=c[5] > 0.5,
        debt_is_underlying=c[6] > 0.5,
    )


def _lps(br: BookRisk, onchain: list[Position]) -> LpLegs:
    lps = [p for p in onchain if not isinstance(p, Loan) and p.base == br.underlying]
    c = _columns([(p.liquidity, p.price_lower, p.price_upper) for p in lps], 3)
    return LpLegs(position_ids=tuple(p.position_id for p in lps), liquidity=c[0],
                  price_lower=c[1], price_upper=c[2])
