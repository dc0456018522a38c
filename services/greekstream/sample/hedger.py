"""The desk's delta hedger: books with a hedge policy trade their perpetual back to target.

A few seconds after each of its trades, and once a minute, a hedging book works out its
delta the way docs/contract.md defines it (Black-76 from the model surface, inverse contracts at
the mark, coin collateral for the `equity` basis, loan collateral and LP base amounts)
and, when it is outside the band, trades the hedge instrument to the target. So the
engine's hedge intents are answered by hedge trades, as on a real desk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from greekstream.core.greeks import black76
from greekstream.sample.market import KIND_OPTION, FloatArray, Market, Universe, years
from greekstream.sample.streams import Trades, fair_prices

SECOND = 1_000_000


@dataclass(frozen=True)
class Policy:
    book: int
    underlying: int
    perp: int  # instrument index of the hedge instrument
    band: float
    target: float
    equity: bool  # hedge_basis == "equity"
    extra: FloatArray  # coin delta of collateral (equity basis) and on-chain, per second


def checks_for(trades: Trades, uni: Universe, policies: list[Policy], start: int, seconds: int,
               rng: np.random.Generator) -> list[tuple[int, int]]:
    """(ts, policy): a few seconds after each of the book's trades in that underlying, and
    every minute."""
    out: list[tuple[int, int]] = []
    minute = start + np.arange(60, seconds, 60, dtype=np.int64) * SECOND
    for k, p in enumerate(policies):
        mine = (trades.book == p.book) & (uni.underlying[trades.inst] == p.underlying)
        after = trades.ts[mine] + rng.integers(2_000, 8_000, int(mine.sum())) * 1000
        times = np.concatenate([minute + k * 1000, after])
        out += [(t, k) for t in times[times < start + seconds * SECOND].tolist()]
    out.sort()
    return out


def hedge(m: Market, uni: Universe, trades: Trades, policies: list[Policy],
          checks: list[tuple[int, int]], rng: np.random.Generator) -> Trades:
    """Walk trades and checks in time order; return the hedge trades."""
    order = np.argsort(trades.ts, kind="stable")
    t_ts, t_book, t_inst = (trades.ts[order].tolist(), trades.book[order].tolist(),
                            trades.inst[order].tolist())
    signed = (trades.qty * trades.side_sign())[order].tolist()
    pos: dict[tuple[int, int], dict[int, float]] = {}
    out: list[tuple[int, int, int, float]] = []  # ts, book, perp, signed contracts
    k = 0
    for ts, which in checks:
        while k < len(t_ts) and t_ts[k] <= ts:
            key = (t_book[k], int(uni.underlying[t_inst[k]]))
            book = pos.setdefault(key, {})
            book[t_inst[k]] = book.get(t_inst[k], 0.0) + signed[k]
            k += 1
        p = policies[which]
        book = pos.setdefault((p.book, p.underlying), {})
        gap = p.target - (_delta(m, uni, book, ts) + p.extra[(ts - m.start_us) // SECOND])
        if abs(gap) <= p.band:
            continue
        mark = float(m.forward(uni, np.array([p.perp]), np.array([ts]))[0])
        size = float(uni.contract_size[p.perp])
        contracts = round(gap * mark / size) if uni.inverse[p.perp] else round(gap / size)
        if contracts:
            at = ts + int(rng.integers(200, 1500)) * 1000
            out.append((at, p.book, p.perp, float(contracts)))
            book[p.perp] = book.get(p.perp, 0.0) + contracts
    return _as_trades(m, uni, out, rng)


def _delta(m: Market, uni: Universe, book: dict[int, float], ts: int) -> float:
    if not book:
        return 0.0
    inst = np.fromiter(book, dtype=np.int64)
    qty = np.fromiter(book.values(), dtype=np.float64) * uni.contract_size[inst]
    when = np.full(len(inst), ts, np.int64)
    fwd = m.forward(uni, inst, when)
    opt = uni.kind[inst] == KIND_OPTION
    coin = np.where(uni.inverse[inst], qty / fwd, qty)  # futures and perpetuals
    if opt.any():
        o = inst[opt]
        iv = m.option_iv(uni, o, when[opt], fwd[opt], np.zeros(len(o)))
        g = black76(fwd[opt], uni.strike[o], years(uni.expiry_us[o], when[opt]), iv,
                    uni.is_call[o], uni.inverse[o])
        coin[opt] = qty[opt] * g.delta
    return float(coin.sum())


def _as_trades(m: Market, uni: Universe, rows: list[tuple[int, int, int, float]],
               rng: np.random.Generator) -> Trades:
    ts = np.array([r[0] for r in rows], np.int64)
    inst = np.array([r[2] for r in rows], np.int64)
    signed = np.array([r[3] for r in rows], np.float64)
    price, _, _ = fair_prices(m, uni, inst, ts, rng)
    return Trades(ts, np.array([r[1] for r in rows], np.int64), inst, signed > 0,
                  np.abs(signed), price)


def per_second(m: Market, seconds: int) -> np.ndarray:
    return m.start_us + np.arange(seconds + 1, dtype=np.int64) * SECOND


def onchain_delta(m: Market, underlying: int, book: str, rows: list[dict[str, Any]],
                  seconds: int) -> FloatArray:
    """Coin delta per second that the book's loans (collateral in this coin) and LP positions
    (base amount x) add, each position at its latest event (reorgs ignored)."""
    name = m.specs[underlying].name
    grid = per_second(m, seconds)
    spot = m.spot[underlying, : seconds + 1]
    out = np.zeros(seconds + 1)
    by_position: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: r["ts"]):
        if r["book"] == book:
            by_position.setdefault(r["position_id"], []).append(r)
    for events in by_position.values():
        idx = np.searchsorted([e["ts"] for e in events], grid, side="right") - 1
        live = idx >= 0
        pick = [events[i] for i in np.maximum(idx, 0).tolist()]
        if "liquidity" in events[0] and events[0]["base"] == name:
            out += live * _lp_base(pick, spot)
        elif events[0].get("collateral_asset") == name:
            out += live * np.array([e["collateral_amount"] if e["debt_amount"] > 0 else 0.0
                                    for e in pick])
    return out


def _lp_base(pick: list[dict[str, Any]], spot: FloatArray) -> FloatArray:
    liq = np.array([e["liquidity"] for e in pick])
    lo = np.array([e["price_lower"] for e in pick])
    hi = np.array([e["price_upper"] for e in pick])
    p = np.clip(spot, lo, hi)
    base: FloatArray = liq * (1.0 / np.sqrt(p) - 1.0 / np.sqrt(hi))
    return base
