"""The books of the sample data: styles, collateral, limits and hedge policies, margin.

The demo desk has five books. Their limits were set by replaying the demo day
through the engine and putting a few of them just inside what the books reach, so
that some breaches open (and some clear) during the day; the hedge policies cover
both bases (`positions`, `equity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from greekstream.sample.market import KIND_OPTION, Market, Universe
from greekstream.sample.streams import Trades
from greekstream.sample.writer import Block

SECOND = 1_000_000


@dataclass(frozen=True)
class BookSpec:
    name: str
    style: str
    trade_share: float
    collateral: dict[str, float]  # initial deposits per asset
    mm_rate: float  # maintenance margin per USD of gross position
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)  # per underlying


def _hedge(perp: str, band: float, basis: str = "positions", target: float = 0.0) -> dict[str, Any]:
    return {"hedge_instrument": perp, "hedge_band": band, "hedge_basis": basis,
            "hedge_target": target}


DEMO_BOOKS: tuple[BookSpec, ...] = (
    BookSpec("desk-a", "directional", 0.22,
             {"BTC": 150.0, "ETH": 2_000.0, "USDC": 3_000_000.0}, 0.06, {
                 "BTC": {"max_abs_delta": 60.0, "max_abs_vega": 5_000.0,
                         "min_liq_distance": 0.12, **_hedge("BTC-PERPETUAL", 15.0)},
                 "ETH": {"max_abs_delta": 900.0, "min_health_factor": 1.3,
                         **_hedge("ETH-PERPETUAL", 200.0)},
             }),
    BookSpec("desk-b", "calendar", 0.15,
             {"BTC": 80.0, "ETH": 1_200.0, "USDC": 1_000_000.0}, 0.03, {
                 "BTC": {"max_abs_delta": 25.0, "max_abs_gamma": 0.0025, "min_theta": -7_500.0},
                 "ETH": {"max_abs_delta": 300.0, "max_abs_gamma": 0.6},
             }),
    BookSpec("mm-1", "market_maker", 0.40,
             {"BTC": 250.0, "ETH": 4_000.0, "USDC": 5_000_000.0}, 0.03, {
                 "BTC": {"max_abs_delta": 20.0, "max_abs_gamma": 0.006, "max_abs_vega": 28_000.0,
                         **_hedge("BTC-PERPETUAL", 4.0)},
                 "ETH": {"max_abs_delta": 300.0, "max_abs_vega": 3_000.0,
                         "min_liq_distance": 0.10, **_hedge("ETH-PERPETUAL", 50.0)},
             }),
    BookSpec("vol-arb", "vol_arb", 0.18,
             {"BTC": 60.0, "ETH": 900.0, "USDC": 1_500_000.0}, 0.04, {
                 "BTC": {"max_abs_vega": 20_000.0, "min_theta": -2_500.0,
                         **_hedge("BTC-PERPETUAL", 6.0)},
                 "ETH": {"max_abs_vega": 4_000.0, **_hedge("ETH-PERPETUAL", 80.0)},
             }),
    BookSpec("treasury", "treasury", 0.05,
             {"BTC": 900.0, "ETH": 12_000.0, "USDC": 20_000_000.0}, 0.02, {
                 "BTC": {"max_abs_delta": 1_500.0,
                         **_hedge("BTC-PERPETUAL", 60.0, "equity", 700.0)},
                 "ETH": {"max_abs_delta": 25_000.0, "min_health_factor": 1.25,
                         **_hedge("ETH-PERPETUAL", 900.0, "equity", 11_000.0)},
             }),
)
# (at fraction of the day, book, underlying, changed fields): the risk manager at work
DEMO_LIMIT_CHANGES: tuple[tuple[float, str, str, dict[str, Any]], ...] = (
    (0.50, "vol-arb", "BTC", {"max_abs_vega": 15_000.0}),
    (0.75, "desk-a", "BTC", {"max_abs_delta": 30.0}),
    (0.80, "desk-b", "ETH", {"max_abs_delta": 600.0}),
)
# (book, protocol, collateral asset, collateral amount, health factor at creation or None:
#  "just above min_health_factor at the day's low", so a health-factor breach opens)
DEMO_LOANS: tuple[tuple[str, str, str, float, float | None], ...] = (
    ("treasury", "aave-v3", "ETH", 1_800.0, None),
    ("treasury", "aave-v3", "WBTC", 45.0, 1.9),
    ("treasury", "compound-v3", "ETH", 900.0, 2.3),
    ("treasury", "spark", "ETH", 600.0, 1.6),
    ("desk-a", "aave-v3", "WBTC", 12.0, 1.45),
    ("desk-a", "aave-v3", "ETH", 300.0, 1.5),
    ("desk-b", "spark", "ETH", 250.0, 2.0),
    ("mm-1", "compound-v3", "WBTC", 8.0, 1.7),
    ("vol-arb", "aave-v3", "ETH", 150.0, 1.25),
)
# (book, USD value, half width of the range as a fraction of the price)
DEMO_LPS: tuple[tuple[str, float, float], ...] = (
    ("treasury", 3_000_000.0, 0.08),
    ("treasury", 1_500_000.0, 0.25),
    ("mm-1", 800_000.0, 0.015),
)


def bench_books(count: int, rng: np.random.Generator) -> tuple[BookSpec, ...]:
    """`count` books of rotating styles, trade shares log-normal, generous limits."""
    styles = ("market_maker", "directional", "vol_arb", "calendar", "treasury")
    shares = rng.lognormal(0.0, 0.8, count)
    books = []
    for k in range(count):
        limits: dict[str, dict[str, Any]] = {
            "BTC": {"max_abs_delta": 50.0, "max_abs_gamma": 0.05, "max_abs_vega": 100_000.0},
            "ETH": {"max_abs_delta": 800.0, "max_abs_gamma": 1.0, "max_abs_vega": 40_000.0},
        }
        if k % 3 == 0:
            limits["BTC"].update(_hedge("BTC-PERPETUAL", 10.0))
            limits["ETH"].update(_hedge("ETH-PERPETUAL", 150.0))
        books.append(BookSpec(f"book-{k:02d}", styles[k % len(styles)],
                              float(shares[k] / shares.sum()),
                              {"BTC": 100.0, "ETH": 1_500.0, "USDC": 2_000_000.0}, 0.03, limits))
    return tuple(books)


def limits_block(books: tuple[BookSpec, ...], start_us: int,
                 changes: tuple[tuple[float, str, str, dict[str, Any]], ...],
                 seconds: int) -> Block:
    rows: list[tuple[int, str, str, dict[str, Any]]] = []
    current = {(b.name, u): dict(lim) for b in books for u, lim in b.limits.items()}
    for (book, u), lim in current.items():
        rows.append((start_us, book, u, dict(lim)))
    for frac, book, u, change in changes:
        current[(book, u)].update(change)
        rows.append((start_us + int(frac * seconds) * SECOND, book, u, dict(current[(book, u)])))
    rows.sort(key=lambda r: r[0])
    return _limit_rows(rows)


def _limit_rows(rows: list[tuple[int, str, str, dict[str, Any]]]) -> Block:
    names = sorted({k for r in rows for k in r[3]})
    cols: dict[str, list[Any]] = {"book": [r[1] for r in rows], "underlying": [r[2] for r in rows]}
    for name in names:
        cols[name] = [r[3].get(name) for r in rows]
    return Block("limits", np.array([r[0] for r in rows], np.int64), cols, sparse=True)


def random_limit_updates(books: tuple[BookSpec, ...], count: int, start_us: int, seconds: int,
                         rng: np.random.Generator) -> Block:
    """Limit changes through the day (the bench's 'limits' share): a book's limits scaled."""
    rows = []
    ts = np.sort(start_us + rng.integers(60, seconds, count) * SECOND)
    for t, k, u, f in zip(ts.tolist(), rng.integers(0, len(books), count).tolist(),
                          rng.integers(0, 2, count).tolist(),
                          rng.uniform(0.7, 1.3, count).tolist(), strict=True):
        under = ("BTC", "ETH")[u]
        lim = {n: (round(v * f, 6) if n.startswith("max_abs") else v)
               for n, v in books[k].limits[under].items()}
        rows.append((t, books[k].name, under, lim))
    return _limit_rows(rows)


def margin_block(m: Market, uni: Universe, books: tuple[BookSpec, ...], trades: Trades,
                 collateral: Block, every_s: float, seconds: int) -> Block:
    """Venue-reported equity and maintenance margin per (book, underlying), periodically:
    equity is the coin collateral at spot plus half the USDC; maintenance margin is the
    book's rate times its gross position (coin) at spot."""
    times = m.start_us + np.arange(int(every_s), seconds, int(every_s), dtype=np.int64) * SECOND
    gross = _gross_positions(m, uni, len(books), trades, times)
    coll = collateral_at(collateral, times)
    cols: dict[str, list[Any]] = {"book": [], "underlying": [], "equity": [],
                                  "maintenance_margin": []}
    ts_out: list[int] = []
    for j, t in enumerate(times.tolist()):
        for b, spec in enumerate(books):
            for u, s in enumerate(m.specs):
                spot = float(m.spot_at(np.array([u]), np.array([t]))[0])
                equity = coll.get((spec.name, s.name), [0.0] * len(times))[j] * spot
                equity += 0.5 * coll.get((spec.name, "USDC"), [0.0] * len(times))[j]
                ts_out.append(t)
                cols["book"].append(spec.name)
                cols["underlying"].append(s.name)
                cols["equity"].append(round(equity, 2))
                cols["maintenance_margin"].append(
                    round(spec.mm_rate * float(gross[b, u, j]) * spot, 2))
    return Block("margin", np.array(ts_out, np.int64), cols)


def _gross_positions(m: Market, uni: Universe, n_books: int, trades: Trades,
                     times: np.ndarray) -> np.ndarray:
    """Σ over instruments of |net position in coin| per (book, underlying) at each time."""
    order = np.argsort(trades.ts, kind="stable")
    inst = trades.inst[order]
    coin = trades.qty[order] * uni.contract_size[inst] * trades.side_sign()[order]
    inverse_linear = uni.inverse[inst] & (uni.kind[inst] != KIND_OPTION)
    coin = np.where(inverse_linear, coin / trades.price[order], coin)
    out = np.zeros((n_books, len(m.specs), len(times)))
    pos: dict[tuple[int, int], float] = {}
    gross = np.zeros((n_books, len(m.specs)))
    ts_list, books, insts = trades.ts[order].tolist(), trades.book[order].tolist(), inst.tolist()
    k = 0
    for j, t in enumerate(times.tolist()):
        while k < len(ts_list) and ts_list[k] <= t:
            b, i, u = books[k], insts[k], int(uni.underlying[insts[k]])
            old = pos.get((b, i), 0.0)
            pos[(b, i)] = old + float(coin[k])
            gross[b, u] += abs(pos[(b, i)]) - abs(old)
            k += 1
        out[:, :, j] = gross
    return out


def collateral_at(block: Block, times: np.ndarray) -> dict[tuple[str, str], list[float]]:
    """Running collateral balance per (book, asset) at each time (retractions ignored)."""
    out: dict[tuple[str, str], list[float]] = {}
    order = np.argsort(block.ts, kind="stable")
    ts = block.ts[order]
    for key in {(b, a) for b, a in zip(block.columns["book"], block.columns["asset"],
                                       strict=True)}:
        sel = np.array([(block.columns["book"][i], block.columns["asset"][i]) == key
                        for i in order.tolist()])
        amounts = np.array([block.columns["amount"][i] for i in order.tolist()])[sel]
        running = np.concatenate([[0.0], np.cumsum(amounts)])
        out[key] = running[np.searchsorted(ts[sel], times, side="right")].tolist()
    return out
