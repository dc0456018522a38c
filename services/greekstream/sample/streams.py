"""Market-data and trade streams of the sample data, as columns (vectorised numpy).

Books trade by *style*: which instruments they favour, which side, what size.
Sizes are log-normal around Deribit-typical clip sizes; option prices are the
Black-76 value of the model smile (inverse options in coin, V/F; linear in USD),
futures and perpetuals trade at the mark plus or minus half a spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greekstream.core.greeks import black76
from greekstream.core.timeutil import format_ts
from greekstream.sample.market import (
    KIND_FUTURE,
    KIND_OPTION,
    KIND_PERPETUAL,
    FloatArray,
    IntArray,
    Market,
    Universe,
    atm_vol,
    years,
)
from greekstream.sample.writer import Block

MS = 1000


@dataclass(frozen=True)
class Trades:
    ts: IntArray
    book: IntArray
    inst: IntArray
    buy: np.ndarray
    qty: FloatArray
    price: FloatArray

    def __len__(self) -> int:
        return len(self.ts)

    def side_sign(self) -> FloatArray:
        return np.where(self.buy, 1.0, -1.0)


def moneyness(m: Market, uni: Universe) -> tuple[FloatArray, FloatArray]:
    """(standardised moneyness z, years to expiry) of every instrument at the start."""
    t = np.where(uni.kind == KIND_PERPETUAL, 0.0, years(uni.expiry_us, m.start_us))
    fwd = m.spot[uni.underlying, 0] * np.exp(m.basis(uni.underlying) * t)
    atm = np.zeros(len(uni))
    for k, spec in enumerate(m.specs):
        atm[uni.underlying == k] = atm_vol(spec, t[uni.underlying == k])
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.log(uni.strike / fwd) / (atm * np.sqrt(np.maximum(t, 1e-6)))
    return np.nan_to_num(z, nan=0.0), t


def style_weights(style: str, m: Market, uni: Universe) -> FloatArray:
    """How much a book of this style favours each instrument (normalised to 1)."""
    z, t = moneyness(m, uni)
    opt = uni.kind == KIND_OPTION
    near = np.where(opt, np.exp(-0.5 * z * z), 0.0)
    inv_perp = (uni.kind == KIND_PERPETUAL) & uni.inverse
    lin_perp = (uni.kind == KIND_PERPETUAL) & ~uni.inverse
    fut = uni.kind == KIND_FUTURE
    short = np.exp(-t / 0.1)
    parts = {
        "directional": [(inv_perp, 0.40), (lin_perp, 0.10), (fut, 0.20), (near * short, 0.30)],
        "market_maker": [(np.where(opt, np.exp(-0.25 * z * z), 0.0), 0.88), (inv_perp, 0.12)],
        "vol_arb": [(near * (t > 0.04), 0.92), (inv_perp, 0.08)],
        "calendar": [(fut, 0.45), (near * (1.0 - short), 0.45), (lin_perp, 0.10)],
        "treasury": [(opt * uni.is_call * (z > 0.4) * (z < 2.5), 0.5), (inv_perp, 0.5)],
    }[style]
    total = np.zeros(len(uni))
    for weights, share in parts:
        w = np.asarray(weights, dtype=np.float64)
        if w.sum() > 0:
            total += share * w / w.sum()
    normalised: FloatArray = total / total.sum()
    return normalised


def buy_probability(style: str, uni: Universe, inst: IntArray, t: FloatArray) -> FloatArray:
    opt = uni.kind[inst] == KIND_OPTION
    if style == "vol_arb":  # short the front, long the back
        return np.where(t[inst] > 0.15, 0.7, 0.3)
    if style == "treasury":  # covered calls
        return np.where(opt, 0.15, 0.5)
    if style == "directional":
        return np.full(len(inst), 0.56)
    return np.full(len(inst), 0.5)


def trade_sizes(m: Market, uni: Universe, inst: IntArray, price: FloatArray,
                rng: np.random.Generator) -> FloatArray:
    """Contracts per trade: options around the spec's clip, futures by USD notional."""
    u = uni.underlying[inst]
    kind = uni.kind[inst]
    clip = np.array([s.option_size for s in m.specs])[u]
    tick = np.where(clip >= 10, 1.0, 0.1)
    opt_qty = np.maximum(np.round(clip * rng.lognormal(0.0, 0.9, len(inst)) / tick) * tick, tick)
    usd = np.array([s.spot for s in m.specs])[u] * clip * rng.lognormal(0.7, 1.0, len(inst))
    contracts = np.where(
        uni.inverse[inst], usd / uni.contract_size[inst], usd / (price * uni.contract_size[inst])
    )
    fut_qty = np.maximum(np.round(contracts), 1.0)
    return np.where(kind == KIND_OPTION, opt_qty, fut_qty)


def fair_prices(m: Market, uni: Universe, inst: IntArray, ts: IntArray,
                rng: np.random.Generator) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(trade price, forward, implied vol) of instruments at times; iv is 0 for non-options."""
    fwd = m.forward(uni, inst, ts)
    opt = uni.kind[inst] == KIND_OPTION
    iv = np.zeros(len(inst))
    price = np.zeros(len(inst))
    if opt.any():
        o = np.flatnonzero(opt)
        iv[o] = m.option_iv(uni, inst[o], ts[o], fwd[o], rng.normal(0.0, 0.002, len(o)))
        value = black76(fwd[o], uni.strike[inst[o]], years(uni.expiry_us[inst[o]], ts[o]),
                        iv[o], uni.is_call[inst[o]]).value
        # USD per coin for linear and inverse options alike (the contract's unit of trade.price)
        price[o] = np.maximum(np.round(value, 1), 0.1)
    f = np.flatnonzero(~opt)
    if len(f):
        tick = np.array([s.price_tick for s in m.specs])[uni.underlying[inst[f]]]
        slip = rng.normal(0.0, 2.0, len(f)) * tick
        price[f] = np.round((fwd[f] + slip) / tick) * tick
    return price, fwd, iv


def book_trades(m: Market, uni: Universe, style: str, book: int, count: int, seconds: int,
                rng: np.random.Generator) -> Trades:
    weights = style_weights(style, m, uni)
    inst = rng.choice(len(uni), size=count, p=weights).astype(np.int64)
    ts = np.sort(m.start_us + rng.integers(60, seconds, count) * 1_000_000
                 + rng.integers(0, 1000, count) * MS)
    _, t = moneyness(m, uni)
    buy = rng.random(count) < buy_probability(style, uni, inst, t)
    price, _, _ = fair_prices(m, uni, inst, ts, rng)
    qty = trade_sizes(m, uni, inst, price, rng)
    return Trades(ts, np.full(count, book, np.int64), inst, buy, qty, price)


def concat_trades(parts: list[Trades]) -> Trades:
    return Trades(*(np.concatenate([getattr(p, f) for p in parts])
                    for f in ("ts", "book", "inst", "buy", "qty", "price")))


def trade_block(uni: Universe, trades: Trades, books: list[str]) -> Block:
    ids = uni.ids
    return Block("trade", trades.ts, {
        "book": [books[b] for b in trades.book.tolist()],
        "instrument_id": [ids[i] for i in trades.inst.tolist()],
        "side": ["buy" if b else "sell" for b in trades.buy.tolist()],
        "quantity": trades.qty.tolist(),
        "price": trades.price.tolist(),
    })


def quote_schedule(m: Market, uni: Universe, candidates: IntArray, count: int, seconds: int,
                   rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    """(instrument, ts) of `count` quotes over the candidates: perpetuals tick most often,
    then futures, then options (near-the-money ones more often), at random times."""
    z, _ = moneyness(m, uni)
    kind = uni.kind[candidates]
    option_weight = np.exp(-0.25 * z[candidates] ** 2) + 0.2
    shares = [(np.where(kind == KIND_PERPETUAL, 1.0, 0.0), 0.25),
              (np.where(kind == KIND_FUTURE, 1.0, 0.0), 0.10),
              (np.where(kind == KIND_OPTION, option_weight, 0.0), 0.65)]
    w = np.zeros(len(candidates))
    for part, share in shares:
        if part.sum() > 0:
            w += share * part / part.sum()
    inst = candidates[rng.choice(len(candidates), size=count, p=w / w.sum())]
    ts = m.start_us + rng.integers(1, seconds * 1000, count) * MS
    order = np.argsort(ts, kind="stable")
    return inst[order], ts[order]


def quote_blocks(m: Market, uni: Universe, inst: IntArray, ts: IntArray,
                 rng: np.random.Generator) -> list[Block]:
    """Option quotes (forward + mark IV) and mark-price quotes (with bid/ask)."""
    blocks = []
    opt = uni.kind[inst] == KIND_OPTION
    o = np.flatnonzero(opt)
    if len(o):
        fwd = m.forward(uni, inst[o], ts[o])
        iv = m.option_iv(uni, inst[o], ts[o], fwd, rng.normal(0.0, 0.002, len(o)))
        ticks = np.array([s.price_tick for s in m.specs])[uni.underlying[inst[o]]]
        blocks.append(Block("quote", ts[o], {
            "instrument_id": [uni.ids[i] for i in inst[o].tolist()],
            "underlying_price": (np.round(fwd / ticks) * ticks).round(2).tolist(),
            "mark_iv": np.round(iv, 4).tolist(),
        }))
    f = np.flatnonzero(~opt)
    if len(f):
        tick = np.array([s.price_tick for s in m.specs])[uni.underlying[inst[f]]]
        mark = np.round(m.forward(uni, inst[f], ts[f]) * (1 + rng.normal(1e-4, 2e-4, len(f)))
                        / tick) * tick
        half = tick * rng.integers(1, 4, len(f))
        blocks.append(Block("quote", ts[f], {
            "instrument_id": [uni.ids[i] for i in inst[f].tolist()],
            "mark_price": mark.round(2).tolist(),
            "bid": (mark - half).round(2).tolist(),
            "ask": (mark + half).round(2).tolist(),
        }))
    return blocks


def funding_block(uni: Universe, start_us: int, seconds: int, every_h: float,
                  rng: np.random.Generator) -> Block:
    """Every perpetual's funding rate at each epoch-aligned `every_h` boundary of the day:
    about +0.01% per period (longs pay, as on most venues most of the time), with noise,
    capped at ±0.5%."""
    step = int(every_h * 3600 * 1_000_000)
    times = np.arange((start_us // step + 1) * step, start_us + seconds * 1_000_000 + 1, step,
                      dtype=np.int64)
    perps = np.flatnonzero(uni.kind == KIND_PERPETUAL)
    ts = np.repeat(times, len(perps))
    inst = np.tile(perps, len(times))
    rate = np.clip(np.round(rng.normal(0.0001, 0.0001, len(ts)), 7), -0.005, 0.005)
    return Block("funding", ts, {"instrument_id": [uni.ids[i] for i in inst.tolist()],
                                 "rate": rate.tolist()})


def index_block(m: Market, every_s: float, seconds: int) -> Block:
    """The spot index of every underlying every `every_s` seconds (offset 250 ms)."""
    step_us = int(every_s * 1_000_000)
    ts1 = m.start_us + 250 * MS + np.arange(0, seconds * 1_000_000, step_us, dtype=np.int64)
    n = len(m.specs)
    ts = np.repeat(ts1, n)
    u = np.tile(np.arange(n, dtype=np.int64), len(ts1))
    price = np.round(m.spot_at(u, ts), 2)
    first = Block("index", np.full(n, m.start_us, np.int64), {
        "underlying": [s.name for s in m.specs], "price": np.round(m.spot[:, 0], 2).tolist()})
    rest = Block("index", ts, {"underlying": [m.specs[k].name for k in u.tolist()],
                               "price": price.tolist()})
    return concat_blocks([first, rest])


def concat_blocks(blocks: list[Block]) -> Block:
    head = blocks[0]
    return Block(head.type, np.concatenate([b.ts for b in blocks]),
                 {k: [v for b in blocks for v in b.columns[k]] for k in head.columns},
                 head.const, head.sparse)


def instrument_block(uni: Universe, start_us: int) -> Block:
    """Every instrument definition, all at the start (they precede everything else)."""
    kinds = {KIND_OPTION: "option", KIND_FUTURE: "future", KIND_PERPETUAL: "perpetual"}
    kind = uni.kind.tolist()
    is_option = [k == KIND_OPTION for k in kind]
    expiry = [None if k == KIND_PERPETUAL else format_ts(e)
              for k, e in zip(kind, uni.expiry_us.tolist(), strict=True)]
    return Block("instrument", np.full(len(uni), start_us, np.int64), {
        "instrument_id": list(uni.ids),
        "kind": [kinds[k] for k in kind],
        "underlying": [iid.split("-")[0].split("_")[0] for iid in uni.ids],
        "settlement": ["inverse" if v else "linear" for v in uni.inverse.tolist()],
        "contract_size": uni.contract_size.tolist(),
        "expiry": expiry,
        "strike": [k if o else None for k, o in zip(uni.strike.tolist(), is_option, strict=True)],
        "option_type": [("call" if c else "put") if o else None
                        for c, o in zip(uni.is_call.tolist(), is_option, strict=True)],
    }, sparse=True)
