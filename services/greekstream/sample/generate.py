"""Deterministic sample event files: the `demo`, `bench` and `kafka-test` profiles.

Same profile and seed, same bytes: every random draw comes from a numpy Generator
seeded from (seed, profile), time starts at 2026-03-02T00:00:00Z (no wall clock),
and events are merged in a total order (ts, type priority, stream, row).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from greekstream.sample import books as bk
from greekstream.sample import hedger as hd
from greekstream.sample import streams as st
from greekstream.sample.chain import (
    Chain,
    bitcoin,
    ethereum,
    lp_liquidity,
    min_spot_after,
    oracle_indexes,
    spot_of,
)
from greekstream.sample.loans import DEBT_ASSET, RISK_PARAMS
from greekstream.sample.market import (
    BTC,
    ETH,
    KIND_OPTION,
    START,
    Market,
    Universe,
    build_universe,
    spot_paths,
    to_us,
)
from greekstream.sample.writer import Block, atomic_write, render

PROFILES = ("demo", "bench", "kafka-test", "market")
DEMO_VOL_REGIMES = ((0.0, 0.45), (8 * 3600.0, 1.0), (9 * 3600.0, 2.0), (10 * 3600.0, 4.5),
                    (12 * 3600.0, 1.0))
SECOND = 1_000_000
BENCH_EVENTS = 1_000_000


@dataclass(frozen=True)
class Profile:
    name: str
    seconds: int
    n_expiries: int
    strikes_per_side: int
    n_futures: int
    linear_option_strikes: int
    books: tuple[bk.BookSpec, ...]
    n_trades: int
    n_quotes: int
    quote_all: bool  # quote every instrument (bench) or only the traded ones (demo)
    index_every_s: float
    n_transfers: int
    n_limit_updates: int = 0
    margin_every_s: float | None = None
    onchain: bool = False  # loans, LP positions, chainlink WBTC/USDC prices and a reorg
    oracle_every_s: float = 60.0
    hedger: bool = False  # books with a hedge policy trade their perpetual back to target
    funding_every_h: float | None = None  # perpetual funding events (epoch-aligned)
    # realized-vol steps (from second, multiplier of each underlying's vol): the demo day
    # is calm until 08:00, spikes 10:00-12:00 and settles (calm → normal → stressed)
    vol_regimes: tuple[tuple[float, float], ...] = ()


def profile(name: str, events: int | None = None) -> Profile:
    """The named profile; `events` sizes the bench (default one million)."""
    if name == "demo":
        return Profile("demo", 86_400, 6, 15, 3, 3, bk.DEMO_BOOKS, 3_000, 30_000, False,
                       10.0, 40, margin_every_s=900.0, onchain=True, hedger=True,
                       funding_every_h=8.0,
                       vol_regimes=DEMO_VOL_REGIMES)
    if name == "kafka-test":
        return Profile("kafka-test", 7_200, 3, 4, 1, 2, bk.DEMO_BOOKS, 600, 2_500, False,
                       10.0, 20, margin_every_s=900.0, onchain=True, oracle_every_s=120.0,
                       hedger=True, funding_every_h=0.5)  # compressed: funding in 2 hours
    if name == "bench":
        return bench_profile(BENCH_EVENTS if events is None else events)
    raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")


def bench_profile(events: int) -> Profile:
    """~70% quotes, ~25% trades, the rest index/collateral/limits; 2 underlyings, 50 books,
    ~2,000 instruments at a million events (fewer strikes for scaled-down runs)."""
    per_side = max(2, round(26 * math.sqrt(min(1.0, events / BENCH_EVENTS))))
    n_inst = len(build_universe([BTC, ETH], to_us(START), 10, per_side, 4, 0))
    books = bk.bench_books(50, np.random.default_rng(50))
    index_every_s = 2 * 86_400 / (0.025 * events)
    n_index = 2 + 2 * len(range(0, 86_400 * SECOND, int(index_every_s * SECOND)))
    fixed = 2 * n_inst + n_index + 3 * len(books) + 2 * len(books)  # + deposits, limits
    n_transfers = max(0, int(0.006 * events) - 3 * len(books))
    n_limit_updates = max(0, int(0.004 * events) - 2 * len(books))
    n_quotes = int(0.70 * events) - n_inst
    n_trades = events - fixed - n_transfers - n_limit_updates - n_quotes
    return Profile("bench", 86_400, 10, per_side, 4, 0, books, n_trades, n_quotes, True,
                   index_every_s, n_transfers, n_limit_updates)


def build(prof: Profile, seed: int) -> list[Block]:
    """Every event of a profile, as blocks (see :func:`write_sample` for the file)."""
    rngs = [np.random.default_rng(s) for s in
            np.random.SeedSequence([seed, PROFILES.index(prof.name)]).spawn(12)]
    start = to_us(START)
    uni = build_universe([BTC, ETH], start, prof.n_expiries, prof.strikes_per_side,
                         prof.n_futures, prof.linear_option_strikes)
    mkt = Market([BTC, ETH], start, spot_paths([BTC, ETH], prof.seconds, rngs[0],
                                                         prof.vol_regimes))
    collateral, onchain, positions = _onchain(prof, mkt, rngs[6], rngs[7])
    trades = _trades(prof, mkt, uni, rngs[1])
    if prof.hedger:
        policies = _policies(prof, mkt, uni, collateral, positions)
        checks = hd.checks_for(trades, uni, policies, start, prof.seconds, rngs[2])
        trades = st.concat_trades([trades, hd.hedge(mkt, uni, trades, policies, checks,
                                                    rngs[2])])
    blocks = [st.instrument_block(uni, start), st.index_block(mkt, prof.index_every_s,
                                                               prof.seconds)]
    blocks += _quotes(prof, mkt, uni, trades, rngs[3], rngs[4])
    blocks.append(st.trade_block(uni, trades, [b.name for b in prof.books]))
    blocks.append(bk.limits_block(prof.books, start, bk.DEMO_LIMIT_CHANGES
                                  if prof.books is bk.DEMO_BOOKS else (), prof.seconds))
    if prof.n_limit_updates:
        blocks.append(bk.random_limit_updates(prof.books, prof.n_limit_updates, start,
                                              prof.seconds, rngs[5]))
    blocks += [collateral, *onchain]
    if prof.funding_every_h:
        blocks.append(st.funding_block(uni, start, prof.seconds, prof.funding_every_h,
                                       rngs[8]))
    if prof.margin_every_s:
        blocks.append(bk.margin_block(mkt, uni, prof.books, trades, collateral,
                                      prof.margin_every_s, prof.seconds))
    return [b for b in blocks if len(b)]


def _trades(prof: Profile, mkt: Market, uni: Universe, rng: np.random.Generator) -> st.Trades:
    shares = np.array([b.trade_share for b in prof.books])
    counts = rng.multinomial(prof.n_trades, shares / shares.sum())
    return st.concat_trades([st.book_trades(mkt, uni, b.style, k, int(n), prof.seconds, rng)
                             for k, (b, n) in enumerate(zip(prof.books, counts, strict=True))])


def _policies(prof: Profile, mkt: Market, uni: Universe, collateral: Block,
              positions: list[dict[str, Any]]) -> list[hd.Policy]:
    """The hedge policies of the books' limits, with each book's non-trade delta per second."""
    balances = bk.collateral_at(collateral, hd.per_second(mkt, prof.seconds))
    policies = []
    for k, book in enumerate(prof.books):
        for u, spec in enumerate(mkt.specs):
            lim = book.limits.get(spec.name, {})
            if "hedge_instrument" not in lim:
                continue
            extra = hd.onchain_delta(mkt, u, book.name, positions, prof.seconds)
            equity = lim.get("hedge_basis") == "equity"
            if equity:
                extra = extra + np.asarray(balances.get((book.name, spec.name), 0.0))
            policies.append(hd.Policy(k, u, uni.ids.index(lim["hedge_instrument"]),
                                      lim["hedge_band"], lim.get("hedge_target", 0.0), equity,
                                      extra))
    return policies


def _quotes(prof: Profile, mkt: Market, uni: Universe, trades: st.Trades,
            rng: np.random.Generator, value_rng: np.random.Generator) -> list[Block]:
    """An opening quote for every instrument, then `n_quotes` through the day."""
    every = np.arange(len(uni), dtype=np.int64)
    if prof.quote_all:
        candidates = every
    else:
        candidates = np.union1d(trades.inst, every[uni.kind != KIND_OPTION])
    inst, ts = st.quote_schedule(mkt, uni, candidates, prof.n_quotes, prof.seconds, rng)
    opening = np.full(len(uni), mkt.start_us, np.int64)
    return st.quote_blocks(mkt, uni, np.concatenate([every, inst]),
                           np.concatenate([opening, ts]), value_rng)


# ----------------------------------------------------------------------------- on-chain


def _onchain(prof: Profile, mkt: Market, rng: np.random.Generator,
             hash_rng: np.random.Generator) -> tuple[Block, list[Block], list[dict[str, Any]]]:
    """Collateral transfers (and, for on-chain profiles, loans, LPs, oracles and a reorg)."""
    eth, btc = ethereum(mkt.start_us), bitcoin(mkt.start_us)
    rows = _initial_deposits(prof, mkt.start_us) + _transfers(prof, mkt.start_us, rng)
    if not prof.onchain:
        return _chain_block("collateral", rows, eth, btc, hash_rng), [], []
    reorg_ts, from_block = _reorg_point(prof, eth)
    lo = eth.block_start(from_block)
    rows = [r for r in rows if not (r["chain"] == "ethereum" and lo <= r["ts"] <= reorg_ts)]
    loans = _demo_loans(prof, mkt)
    lps = _demo_lps(prof, mkt)
    orphaned, replayed = _orphans(prof, lo, reorg_ts, loans)
    collateral = _chain_block("collateral", rows + orphaned["collateral"], eth, btc, hash_rng)
    replayed_block = _chain_block("collateral", replayed, eth, btc, hash_rng,
                                  tx_hash=_tx_of(collateral, orphaned["collateral"][-1]["ts"]))
    reorg = Block("reorg", np.array([reorg_ts]), {"chain": ["ethereum"],
                                                  "from_block": [from_block]})
    return st.concat_blocks([collateral, replayed_block]), [
        oracle_indexes(mkt, prof.oracle_every_s, prof.seconds, rng),
        _chain_block("loan", loans + orphaned["loan"], eth, btc, hash_rng),
        _chain_block("lp_position", lps, eth, btc, hash_rng),
        reorg,
    ], loans + lps


def _initial_deposits(prof: Profile, start: int) -> list[dict[str, Any]]:
    rows = []
    for k, book in enumerate(prof.books):
        for j, (asset, amount) in enumerate(book.collateral.items()):
            rows.append({"ts": start + (k * 3 + j) * SECOND // 10, "book": book.name,
                         "asset": asset, "amount": amount, "chain": _chain_of(asset)})
    return rows


def _chain_of(asset: str) -> str:
    return "bitcoin" if asset == "BTC" else "ethereum"


def _transfers(prof: Profile, start: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Deposits (60%) and smaller withdrawals (40%) of a few % of a book's collateral."""
    n = prof.n_transfers
    ts = np.sort(start + rng.integers(300, prof.seconds, n) * SECOND)
    book = rng.integers(0, len(prof.books), n)
    assets = rng.choice(3, n, p=[0.25, 0.45, 0.30])
    frac = rng.lognormal(np.log(0.03), 0.7, n)
    deposit = rng.random(n) < 0.6
    rows = []
    for t, b, a, f, d in zip(ts.tolist(), book.tolist(), assets.tolist(), frac.tolist(),
                             deposit.tolist(), strict=True):
        asset = ("BTC", "ETH", "USDC")[a]
        base = prof.books[b].collateral[asset]
        amount = round(base * f if d else -base * f * 0.5, 2 if asset == "USDC" else 4)
        rows.append({"ts": t, "book": prof.books[b].name, "asset": asset, "amount": amount,
                     "chain": _chain_of(asset)})
    return rows


def _chain_block(kind: str, rows: list[dict[str, Any]], eth: Chain, btc: Chain,
                 rng: np.random.Generator, tx_hash: str | None = None) -> Block:
    """Rows (with "ts" and "chain") → a block with on-chain provenance for each row."""
    rows = sorted(rows, key=lambda r: r["ts"])
    ts = np.array([r["ts"] for r in rows], np.int64)
    fields = [k for k in (rows[0] if rows else {}) if k not in ("ts", "chain")]
    cols: dict[str, list[Any]] = {k: [r[k] for r in rows] for k in fields}
    for name in ("chain", "tx_hash", "block_number", "log_index"):
        cols[name] = []
    for r, t in zip(rows, ts.tolist(), strict=True):
        chain = eth if r["chain"] == "ethereum" else btc
        prov = chain.provenance(np.array([t]), rng)
        for name, values in prov.items():
            cols[name].append(values[0])
    if tx_hash is not None:
        cols["tx_hash"] = [tx_hash] * len(rows)
    return Block(kind, ts, cols, sparse=True)


def _tx_of(block: Block, ts: int) -> str:
    i = int(np.flatnonzero(block.ts == ts)[0])
    return str(block.columns["tx_hash"][i])


def _reorg_point(prof: Profile, eth: Chain) -> tuple[int, int]:
    """The reorg's time (9 s into a block, 55% through the period) and its first orphan block."""
    block = int(eth.block_at(np.array([eth.start_us + int(0.55 * prof.seconds) * SECOND]))[0])
    return eth.block_start(block) + 9 * SECOND, block - 1


def _orphans(prof: Profile, lo: int, reorg_ts: int, loans: list[dict[str, Any]]
             ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Events in the orphaned blocks (an ETH and a USDC deposit, a loan top-up) and the
    USDC deposit mined again after the reorg, with the same transaction hash."""
    usdc = {"ts": reorg_ts - 7 * SECOND, "book": "mm-1", "asset": "USDC",
            "amount": 250_000.0, "chain": "ethereum"}
    eth_dep = {"ts": lo + 3 * SECOND, "book": "desk-b", "asset": "ETH", "amount": 120.0,
               "chain": "ethereum"}
    topped = dict(next(r for r in loans if r["position_id"].startswith("compound-v3:treasury")))
    topped.update(ts=lo + 6 * SECOND, collateral_amount=topped["collateral_amount"] + 100.0)
    again = dict(usdc, ts=reorg_ts + 40 * SECOND)
    return {"collateral": [eth_dep, usdc], "loan": [topped]}, [again]


def _loan_row(ts: int, book: str, protocol: str, asset: str, coll: float, debt: float,
              n: int) -> dict[str, Any]:
    risk = RISK_PARAMS[(protocol, asset)]
    return {"ts": ts, "chain": "ethereum", "book": book,
            "position_id": f"{protocol}:{book}:{asset}:{n}", "protocol": protocol,
            "collateral_asset": asset, "collateral_amount": coll, "debt_asset": DEBT_ASSET,
            "debt_amount": debt, "liquidation_threshold": risk.liquidation_threshold,
            "liquidation_bonus": risk.liquidation_bonus, "close_factor": risk.close_factor}


def _demo_loans(prof: Profile, mkt: Market) -> list[dict[str, Any]]:
    """The desk's loans (opened in the first minutes) and their updates through the day."""
    rows = []
    for n, (book, protocol, asset, coll, hf) in enumerate(bk.DEMO_LOANS):
        ts = mkt.start_us + (120 + 20 * n) * SECOND
        price = spot_of(mkt, asset, ts)
        if hf is None:  # just under min_health_factor (1.25) at the day's low
            hf = 1.22 * price / min_spot_after(mkt, asset, ts)
        lt = RISK_PARAMS[(protocol, asset)].liquidation_threshold
        rows.append(_loan_row(ts, book, protocol, asset, coll, round(coll * price * lt / hf, 2), n))
    at = {r["position_id"]: r for r in rows}
    updates = [(0.30, "aave-v3:treasury:WBTC:1", {"collateral_amount": 50.0}),
               (0.70, "aave-v3:desk-a:ETH:5", {"debt_amount": round(
                   at["aave-v3:desk-a:ETH:5"]["debt_amount"] * 0.8, 2)}),
               (0.85, "aave-v3:vol-arb:ETH:8", {"collateral_amount": 0.0, "debt_amount": 0.0})]
    for frac, pid, change in updates:
        rows.append(dict(at[pid], ts=mkt.start_us + int(frac * prof.seconds) * SECOND, **change))
    return rows


def _demo_lps(prof: Profile, mkt: Market) -> list[dict[str, Any]]:
    """Uniswap-v3-style ETH/USDC ranges; mm-1 re-centres its narrow range at 60% of the
    period and the treasury closes its first one at 90%."""
    rows = []
    ts0 = mkt.start_us + 300 * SECOND
    for n, (book, value, half) in enumerate(bk.DEMO_LPS):
        rows.append(_lp_row(mkt, ts0 + n * 30 * SECOND, book, 912_345 + n, value, half))
    recentre = _lp_row(mkt, mkt.start_us + int(0.6 * prof.seconds) * SECOND, "mm-1", 912_347,
                       bk.DEMO_LPS[2][1], bk.DEMO_LPS[2][2])
    closed = dict(rows[0], ts=mkt.start_us + int(0.9 * prof.seconds) * SECOND, liquidity=0.0)
    return [*rows, recentre, closed]


def _lp_row(mkt: Market, ts: int, book: str, token: int, value: float, half: float
            ) -> dict[str, Any]:
    price = spot_of(mkt, "ETH", ts)
    lower, upper = round(price * (1 - half), 2), round(price * (1 + half), 2)
    row = {"ts": ts, "chain": "ethereum", "book": book, "position_id": f"univ3-{token}",
           "pool": "uniswap-v3:WETH/USDC-0.05%", "base": "ETH",
           "liquidity": round(lp_liquidity(value, price, lower, upper), 2),
           "price_lower": lower, "price_upper": upper}
    return row


# ----------------------------------------------------------------------------- files


def bad_records(ts_text: str) -> list[bytes]:
    """Three deliberately bad records (for tests of the dead-letter path)."""
    return [
        b'{"type":"trade","event_id":"bad-json","ts":"' + ts_text.encode() + b'","book":',
        b'{"type":"trade","event_id":"bad-qty","ts":"' + ts_text.encode()
        + b'","book":"desk-a","instrument_id":"BTC-PERPETUAL","side":"buy","quantity":-5,'
        b'"price":87000.0}',
        b'{"type":"trade","event_id":"bad-instrument","ts":"' + ts_text.encode()
        + b'","book":"desk-a","instrument_id":"BTC-1JAN26-100000-C","side":"buy",'
        b'"quantity":1.0,"price":0.01}',
    ]


def lines(blocks: list[Block], id_prefix: str, with_bad: bool = False) -> Iterator[bytes]:
    """Every line of the file (bytes, no newline); with_bad adds bad records and repeats
    one trade (same event_id) right after itself, a third of the way in."""
    marker = sum(len(b) for b in blocks) // 3
    injected = not with_bad
    for n, (line, event) in enumerate(render(blocks, id_prefix)):
        yield line
        if not injected and n >= marker and event["type"] == "trade":
            yield line
            yield from bad_records(event["ts"])
            injected = True


def write_sample(path: str | Path, name: str = "demo", seed: int = 7, with_bad: bool = False,
                 events: int | None = None, show_progress: bool = True) -> int:
    """Generate a profile into `path` (atomically); returns the number of lines written."""
    if with_bad and name == "bench":
        raise ValueError("--with-bad is not for the bench profile")
    if name == "market":  # streamed second by second (sample/market_stream.py)
        from greekstream.sample.market_stream import write_market

        return write_market(path, seed, events, show_progress)
    blocks = build(profile(name, events), seed)
    total = sum(len(b) for b in blocks)
    return atomic_write(Path(path), lines(blocks, f"{name}{seed}", with_bad), total,
                        f"sample {name}", show_progress)
