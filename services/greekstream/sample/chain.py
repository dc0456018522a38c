"""On-chain events of the sample data: collateral transfers, loans, LP positions, a reorg.

Block numbers follow event time (Ethereum: a block every 12 s; Bitcoin: every 600 s),
so a ``reorg`` from block b retracts exactly the events after b's start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from greekstream.sample.market import FloatArray, IntArray, Market
from greekstream.sample.writer import Block

SECOND = 1_000_000
LOAN_FIELDS = ("book", "position_id", "protocol", "collateral_asset", "collateral_amount",
               "debt_asset", "debt_amount", "liquidation_threshold", "liquidation_bonus",
               "close_factor")
LP_FIELDS = ("book", "position_id", "pool", "base", "liquidity", "price_lower", "price_upper")
PROVENANCE = ("chain", "tx_hash", "block_number", "log_index")


@dataclass(frozen=True)
class Chain:
    name: str
    block0: int  # block number at the start time
    block_s: int
    start_us: int
    evm: bool = True  # 0x-prefixed hashes and log indexes (Bitcoin has neither)

    def block_at(self, ts_us: IntArray) -> IntArray:
        return self.block0 + (np.asarray(ts_us) - self.start_us) // (self.block_s * SECOND)

    def block_start(self, block: int) -> int:
        return self.start_us + (block - self.block0) * self.block_s * SECOND

    def provenance(self, ts_us: IntArray, rng: np.random.Generator) -> dict[str, list[object]]:
        n = len(ts_us)
        raw = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        hashes = [("0x" if self.evm else "") + bytes(row).hex() for row in raw]
        logs: list[object] = rng.integers(0, 300, n).tolist() if self.evm else [None] * n
        return {"chain": [self.name] * n, "tx_hash": hashes,
                "block_number": self.block_at(ts_us).tolist(), "log_index": logs}


def ethereum(start_us: int) -> Chain:
    return Chain("ethereum", 24_561_000, 12, start_us)


def bitcoin(start_us: int) -> Chain:
    return Chain("bitcoin", 938_400, 600, start_us, evm=False)


def onchain_block(kind: str, ts: IntArray, rows: dict[str, list[object]],
                  prov: dict[str, list[object]]) -> Block:
    return Block(kind, ts, {**rows, **prov}, sparse=True)


def lp_liquidity(value_usd: float, price: float, lower: float, upper: float) -> float:
    """Liquidity L of an in-range position worth `value_usd` (docs/contract.md: value = x·P + y)."""
    per_l = 2.0 * math.sqrt(price) - price / math.sqrt(upper) - math.sqrt(lower)
    return value_usd / per_l


def oracle_indexes(m: Market, every_s: float, seconds: int, rng: np.random.Generator) -> Block:
    """Chainlink-style WBTC and USDC prices (the assets of the loans), every `every_s`."""
    step = int(every_s * SECOND)
    ts1 = m.start_us + np.arange(0, seconds * SECOND, step, dtype=np.int64)
    btc = m.spot_at(np.zeros(len(ts1), np.int64), ts1)
    wbtc = np.round(btc * (1.0 - 8e-4), 2)
    usdc = np.round(1.0 + rng.normal(0.0, 1e-4, len(ts1)), 4)
    ts = np.repeat(ts1, 2)
    price = np.column_stack([wbtc, usdc]).ravel()
    return Block("index", ts, {"underlying": ["WBTC", "USDC"] * len(ts1),
                               "price": price.tolist()}, const={"source": "chainlink"})


def spot_of(m: Market, asset: str, ts: int) -> float:
    names = [s.name for s in m.specs]
    name = "BTC" if asset == "WBTC" else asset
    if name == "USDC":
        return 1.0
    u = names.index(name)
    return float(m.spot_at(np.array([u]), np.array([ts]))[0]) * (0.9992 if asset == "WBTC" else 1)


def min_spot_after(m: Market, asset: str, ts: int) -> float:
    names = [s.name for s in m.specs]
    u = names.index("BTC" if asset == "WBTC" else asset)
    sec = (ts - m.start_us) // SECOND
    path: FloatArray = m.spot[u, sec:]
    return float(path.min())
