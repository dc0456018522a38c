"""Build a :class:`PortfolioSlice` (arrays) from the engine's state of one (book, underlying)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from greekstream.core.books import BookRisk
from greekstream.core.events import Loan
from greekstream.core.onchain_state import asset_price
from greekstream.core.portfolio import (
    InverseLegs,
    LinearLegs,
    LoanLegs,
    LpLegs,
    OptionLegs,
    PortfolioSlice,
)
from greekstream.core.timeutil import year_fraction

if TYPE_CHECKING:
    from greekstream.core.engine import Engine


def build_slice(engine: Engine, br: BookRisk, as_of_us: int) -> PortfolioSlice:
    opt: list[tuple[str, float, float, float, float, float, bool, bool]] = []
    lin: list[tuple[str, float, float]] = []
    inv: list[tuple[str, float, float, float]] = []
    unvalued: list[str] = []
    for iid, qty in br.positions.items():
        inst = engine.instruments[iid]
        if inst.is_option:
            assert inst.expiry_us is not None and inst.strike is not None
            if inst.expiry_us <= as_of_us:
                continue
            if inst.forward is None or inst.vol is None:
                unvalued.append(iid)
                continue
            years = year_fraction(as_of_us, inst.expiry_us)
            opt.append((iid, qty * inst.contract_size, inst.forward, inst.strike, inst.vol,
                        years, inst.is_call, inst.inverse))
        elif inst.kind == "future" and inst.expiry_us is not None and inst.expiry_us <= as_of_us:
            continue
        elif inst.mark is None:
            unvalued.append(iid)
        elif inst.inverse:
            inv.append((iid, qty, inst.contract_size, inst.mark))
        else:
            lin.append((iid, qty * inst.contract_size, inst.mark))
    return PortfolioSlice(
        book=br.book,
        underlying=br.underlying,
        as_of_us=as_of_us,
        index_price=engine.index.get(br.underlying),
        collateral=engine.collateral.get(br.key, 0.0),
        options=OptionLegs(
            q=_col(opt, 1), forward=_col(opt, 2), strike=_col(opt, 3), vol=_col(opt, 4),
            years=_col(opt, 5), is_call=_col(opt, 6, bool), inverse=_col(opt, 7, bool),
            instrument_ids=tuple(r[0] for r in opt),
        ),
        linear=LinearLegs(
            q=_col(lin, 1), mark=_col(lin, 2), instrument_ids=tuple(r[0] for r in lin)
        ),
        inverse=InverseLegs(
            n=_col(inv, 1), contract_size=_col(inv, 2), mark=_col(inv, 3),
            instrument_ids=tuple(r[0] for r in inv),
        ),
        loans=_loans(engine, br),
        lps=_lps(engine, br),
        unvalued=tuple(unvalued),
    )


def _col(rows: list, i: int, kind: type = float) -> np.ndarray:  # type: ignore[type-arg]
    dtype = np.bool_ if kind is bool else np.float64
    return np.array([r[i] for r in rows], dtype=dtype)


def _loans(engine: Engine, br: BookRisk) -> LoanLegs:
    u = br.underlying
    rows = []
    for p in engine.chain.positions(br.book):
        if isinstance(p, Loan) and u in (p.collateral_asset, p.debt_asset):
            pc = asset_price(p.collateral_asset, engine.index)
            pd = asset_price(p.debt_asset, engine.index)
            rows.append((p.position_id, p.collateral_amount, pc, p.debt_amount, pd,
                         p.liquidation_threshold, p.collateral_asset == u, p.debt_asset == u))
    return LoanLegs(
        position_ids=tuple(r[0] for r in rows), coll_amount=_col(rows, 1),
        coll_price=_col(rows, 2), debt_amount=_col(rows, 3), debt_price=_col(rows, 4),
        liquidation_threshold=_col(rows, 5), coll_is_underlying=_col(rows, 6, bool),
        debt_is_underlying=_col(rows, 7, bool),
    )


def _lps(engine: Engine, br: BookRisk) -> LpLegs:
    rows = [
        (p.position_id, p.liquidity, p.price_lower, p.price_upper)
        for p in engine.chain.positions(br.book)
        if not isinstance(p, Loan) and p.base == br.underlying
    ]
    return LpLegs(
        position_ids=tuple(r[0] for r in rows), liquidity=_col(rows, 1),
        price_lower=_col(rows, 2), price_upper=_col(rows, 3),
    )
