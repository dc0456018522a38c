"""The `market` profile: a live options market at full speed, generated second by second.

    python -m greekstream.sample --profile market --out market.jsonl   # >= 1M events

* BTC and ETH with Deribit's shape: 10 expiries × up to 43 strikes × call/put (over 1,500)
  inverse options, two perpetuals and two futures per underlying;
* 200 books ("book-00" … "book-199") each opening 50–500 positions at the start (one trade per
  instrument held, options mostly), with collateral deposits and limits per underlying;
* then, every second of event time: 10,000 quotes (every instrument's ticker about
  every 160 ms; near-the-money options and perpetuals more often), 4 index prints
  per underlying, ~50 trades (mostly on instruments the book already holds), a
  collateral transfer every ~5 s and a limit change every ~10 s.

Deterministic (seeded numpy Generators, time from 2026-03-02T00:00:00Z) and streamed:
only one second of events is in memory at a time; the file is written atomically.
The number of seconds follows from the requested event count.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from greekstream.sample import books as bk
from greekstream.sample import market as mk
from greekstream.sample import streams as st
from greekstream.sample.writer import Block, atomic_write, merged_order, ts_strings

SECOND = 1_000_000
EVENTS = 1_000_000
N_BOOKS = 200
POSITIONS = (50, 500)  # instruments held per book, inclusive
QUOTES_PER_S = 10_000
INDEX_PER_S = 4  # per underlying
TRADES_PER_S = 50
COLLATERAL_EVERY_S = 5.0
LIMITS_EVERY_S = 10.0
N_EXPIRIES, STRIKES_PER_SIDE, N_FUTURES = 10, 21, 2


def universe(start_us: int) -> mk.Universe:
    return mk.build_universe([mk.BTC, mk.ETH], start_us, N_EXPIRIES, STRIKES_PER_SIDE,
                             N_FUTURES, 0)


def per_second() -> int:
    return QUOTES_PER_S + 2 * INDEX_PER_S + TRADES_PER_S + 1


def seconds_for(events: int, opening: int) -> int:
    return max(1, math.ceil((events - opening) / per_second()))


def write_market(path: str | Path, seed: int = 7, events: int | None = None,
                 show_progress: bool = True) -> int:
    """Generate the profile into ``path``; returns the number of lines written."""
    stream = MarketStream(seed, EVENTS if events is None else events)
    return atomic_write(Path(path), stream.lines(), stream.total, "sample market",
                        show_progress)


class MarketStream:
    def __init__(self, seed: int, events: int) -> None:
        seeds = np.random.SeedSequence([seed, 3]).spawn(8)
        self.rng = [np.random.default_rng(s) for s in seeds]
        self.start = mk.to_us(mk.START)
        self.uni = universe(self.start)
        self.books = bk.bench_books(N_BOOKS, np.random.default_rng(seeds[7]))
        self.held = self._holdings()
        opening = (len(self.uni) + 2 + len(self.uni) + sum(len(h) for h in self.held)
                   + 3 * N_BOOKS + 2 * N_BOOKS)
        self.events = events
        self.seconds = seconds_for(events, opening)
        self.mkt = mk.Market([mk.BTC, mk.ETH], self.start,
                          mk.spot_paths([mk.BTC, mk.ETH], self.seconds + 1, self.rng[0]))
        self.total = opening + self.seconds * per_second()  # an estimate for the progress
        self.weights = self._quote_weights()
        self.n = 0

    # ------------------------------------------------------------------ the stream

    def lines(self) -> Iterator[bytes]:
        yield from self._render(self._opening())
        sec = 0
        # the planned seconds, then more while short of the events asked for: a second's
        # trades and changes are random draws, so `seconds` is only an estimate
        while sec < self.seconds or self.n < self.events:
            if sec + 2 > self.mkt.spot.shape[1]:
                self._extend_spot()
            yield from self._render(self._second(sec))
            sec += 1

    def _render(self, blocks: list[Block]) -> Iterator[bytes]:
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            return
        which, rows = merged_order(blocks)
        offsets = np.cumsum([0] + [len(b) for b in blocks])[:-1]
        stamps = ts_strings(np.concatenate([b.ts for b in blocks])[offsets[which] + rows])
        dumps = orjson.dumps
        for k, i, stamp in zip(which.tolist(), rows.tolist(), stamps, strict=True):
            block = blocks[k]
            event: dict[str, Any] = {"type": block.type, "event_id": f"market-{self.n}",
                                     "ts": stamp}
            event.update(block.row(i))
            self.n += 1
            yield dumps(event)

    # ------------------------------------------------------------------ the opening

    def _holdings(self) -> list[np.ndarray]:
        """Distinct instruments per book: options mostly, a perpetual or future or two."""
        rng = self.rng[1]
        opt = self.uni.where(self.uni.kind == mk.KIND_OPTION)
        other = self.uni.where(self.uni.kind != mk.KIND_OPTION)
        held = []
        for _ in range(N_BOOKS):
            n = int(rng.integers(POSITIONS[0], POSITIONS[1] + 1))
            lin = rng.choice(other, size=min(len(other), int(rng.integers(1, 4))),
                             replace=False)
            options = rng.choice(opt, size=n - len(lin), replace=False)
            held.append(np.sort(np.concatenate([lin, options])))
        return held

    def _opening(self) -> list[Block]:
        uni, start = self.uni, self.start
        every = np.arange(len(uni), dtype=np.int64)
        blocks = [st.instrument_block(uni, start), self._index(np.full(2, start, np.int64))]
        blocks += st.quote_blocks(self.mkt, uni, every, np.full(len(uni), start, np.int64),
                                  self.rng[2])
        ts0 = start + 100_000  # trades 100 ms after the definitions and opening quotes
        books = np.concatenate([np.full(len(h), k, np.int64) for k, h in enumerate(self.held)])
        inst = np.concatenate(self.held)
        blocks.append(self._trades(books, inst, np.full(len(inst), ts0, np.int64)))
        names = [b.name for b in self.books]
        deposits: dict[str, list[Any]] = {"book": [], "asset": [], "amount": []}
        for name, spec in zip(names, self.books, strict=True):
            for asset, amount in spec.collateral.items():
                deposits["book"].append(name)
                deposits["asset"].append(asset)
                deposits["amount"].append(amount)
        blocks.append(Block("collateral", np.full(len(deposits["book"]), start, np.int64),
                            deposits))
        blocks.append(bk.limits_block(self.books, start, (), 1))
        return blocks

    # ------------------------------------------------------------------ one second

    def _second(self, sec: int) -> list[Block]:
        rng = self.rng[3]
        base = self.start + (sec + 1) * SECOND
        inst = rng.choice(len(self.uni), size=QUOTES_PER_S, p=self.weights).astype(np.int64)
        qts = np.sort(base + rng.integers(0, 1000, QUOTES_PER_S) * 1000)
        blocks = st.quote_blocks(self.mkt, self.uni, inst, qts, self.rng[4])
        its = base + np.repeat(np.arange(INDEX_PER_S) * (SECOND // INDEX_PER_S) + 125_000, 2)
        blocks.append(self._index(its))
        n = int(rng.poisson(TRADES_PER_S))
        book = rng.integers(0, N_BOOKS, n)
        traded = np.array([rng.choice(self.held[b]) if rng.random() < 0.8
                           else rng.integers(0, len(self.uni)) for b in book.tolist()],
                          np.int64)
        blocks.append(self._trades(book, traded, np.sort(base + rng.integers(0, 1000, n) * 1000)))
        if rng.random() < 1.0 / COLLATERAL_EVERY_S:
            b = self.books[int(rng.integers(0, N_BOOKS))]
            asset = ("BTC", "ETH", "USDC")[int(rng.integers(0, 3))]
            amount = round(b.collateral[asset] * float(rng.uniform(-0.02, 0.05)), 4)
            blocks.append(Block("collateral", np.array([base + 500_000]),
                                {"book": [b.name], "asset": [asset], "amount": [amount]}))
        if rng.random() < 1.0 / LIMITS_EVERY_S:
            blocks.append(bk.random_limit_updates(self.books, 1, base - 60 * SECOND, 61,
                                                  self.rng[5]))
        return blocks

    # ------------------------------------------------------------------ helpers

    def _extend_spot(self) -> None:
        """One more second of the spot paths (same model, the next draws of their rng)."""
        step = mk.spot_paths(self.mkt.specs, 1, self.rng[0])
        spot = np.concatenate([self.mkt.spot, self.mkt.spot[:, -1:] * step[:, 1:] / step[:, :1]],
                              axis=1)
        self.mkt = mk.Market(self.mkt.specs, self.start, spot)

    def _index(self, ts: np.ndarray) -> Block:
        u = np.tile(np.arange(2, dtype=np.int64), len(ts) // 2)
        price = np.round(self.mkt.spot_at(u, ts), 2)
        return Block("index", ts, {"underlying": [("BTC", "ETH")[k] for k in u.tolist()],
                                   "price": price.tolist()})

    def _trades(self, book: np.ndarray, inst: np.ndarray, ts: np.ndarray) -> Block:
        rng = self.rng[6]
        price, _, _ = st.fair_prices(self.mkt, self.uni, inst, ts, rng)
        qty = st.trade_sizes(self.mkt, self.uni, inst, price, rng)
        trades = st.Trades(ts, book.astype(np.int64), inst, rng.random(len(inst)) < 0.5, qty,
                           price)
        return st.trade_block(self.uni, trades, [b.name for b in self.books])

    def _quote_weights(self) -> np.ndarray:
        """Perpetuals a quarter of the tickers, futures a tenth, options the rest with
        near-the-money strikes about twice as often as the wings."""
        z, _ = st.moneyness(self.mkt, self.uni)
        kind = self.uni.kind
        w = np.where(kind == mk.KIND_OPTION, np.exp(-0.25 * z * z) + 0.5, 0.0)
        w = 0.65 * w / w.sum()
        perp = (kind == mk.KIND_PERPETUAL).astype(np.float64)
        fut = ((kind != mk.KIND_OPTION) & (kind != mk.KIND_PERPETUAL)).astype(np.float64)
        w += 0.25 * perp / perp.sum() + 0.10 * fut / max(fut.sum(), 1.0)
        return np.asarray(w / w.sum(), dtype=np.float64)
