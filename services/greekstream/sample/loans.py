"""A synthetic lending-market loan population, for the liquidation cascade (demo and bench).

Run as ``python -m greekstream.sample loans --count 5000 --asset ETH --out loans.jsonl``
(writes the index prices the loans need, then one ``loan`` event per loan, docs/contract.md
*On-chain positions*), or call :func:`loan_population` for numpy arrays.

The model, and where it comes from — an assumption, not a fitted dataset:

* **Health factors.** Public Aave v3 dashboards and risk reports (e.g. the
  health-factor histograms of Chaos Labs / Gauntlet community posts and the
  "at-risk debt" pages of lending analytics sites) show most borrowers at HF
  between about 1.1 and 3, a long tail of very safe loans, and a small mass close
  to liquidation. We model it as a mixture: with probability 7% HF is uniform on
  [1.005, 1.10]; otherwise HF = 1 + X with X log-normal (median 0.65, σ = 0.75),
  capped at 50. Per loan that gives a median HF of about 1.6, about 7.5% of
  loans below 1.1, about 86% between 1.1 and 3 and about 6% above 3 (by debt:
  about 84% of the debt sits at HF 1.1-3 and 14% below 1.1).
* **Sizes.** Collateral value in USD is log-normal with a median of $8,000 and
  σ = 1.8 (heavy-tailed: the largest 1% of loans hold about 30% of the
  collateral, in the spirit of the whale concentration lending markets show),
  floored at $100.
* **Protocols.** 60% Aave v3, 25% Compound v3, 15% Spark, with liquidation
  thresholds, bonuses and close factors close to their published risk
  parameters for WETH/WBTC collateral (rounded; check the protocols' current
  parameters before relying on them). Compound v3 "absorbs" a whole position,
  so its close factor is 1; Aave and Spark liquidate half the debt (0.5).
* **Debt** is USDC: debt = collateral·P·LT / HF, so the HF is exact at the
  given prices. About 3% of loans belong to the desk's books (round-robin over
  the demo books); the rest are the wider market, book ``market``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from greekstream.sample import market
from greekstream.sample.chain import ethereum, onchain_block
from greekstream.sample.writer import Block, atomic_write, render

FloatArray = npt.NDArray[np.float64]
DEBT_ASSET = "USDC"
MARKET_BOOK = "market"
DESK_BOOKS = ("treasury", "desk-a", "desk-b", "mm-1", "vol-arb")
NEAR_LIQUIDATION_SHARE = 0.07
HF_BODY_MEDIAN, HF_BODY_SIGMA, HF_CAP = 0.65, 0.75, 50.0
SIZE_MEDIAN_USD, SIZE_SIGMA, SIZE_FLOOR_USD = 8_000.0, 1.8, 100.0
DESK_SHARE = 0.03
PROTOCOL_SHARES = {"aave-v3": 0.60, "compound-v3": 0.25, "spark": 0.15}


@dataclass(frozen=True)
class RiskParams:
    liquidation_threshold: float
    liquidation_bonus: float
    close_factor: float


RISK_PARAMS: dict[tuple[str, str], RiskParams] = {
    ("aave-v3", "ETH"): RiskParams(0.83, 0.05, 0.5),
    ("aave-v3", "WBTC"): RiskParams(0.78, 0.05, 0.5),
    ("spark", "ETH"): RiskParams(0.83, 0.05, 0.5),
    ("spark", "WBTC"): RiskParams(0.75, 0.07, 0.5),
    ("compound-v3", "ETH"): RiskParams(0.85, 0.07, 1.0),
    ("compound-v3", "WBTC"): RiskParams(0.80, 0.10, 1.0),
}
ASSETS = ("ETH", "WBTC")


@dataclass(frozen=True)
class LoanPopulation:
    """One loan per index; every array has the same length."""

    asset: str
    price: float
    protocol: list[str]
    book: list[str]
    collateral_amount: FloatArray
    debt_amount: FloatArray
    liquidation_threshold: FloatArray
    liquidation_bonus: FloatArray
    close_factor: FloatArray

    def __len__(self) -> int:
        return len(self.protocol)

    def health_factor(self, price: float | None = None, debt_price: float = 1.0) -> FloatArray:
        p = self.price if price is None else price
        return self.collateral_amount * p * self.liquidation_threshold / (
            self.debt_amount * debt_price)


def default_price(asset: str) -> float:
    if asset == "WBTC":
        return round(market.BTC.spot * (1.0 - 8e-4), 2)
    return market.ETH.spot


def health_factors(count: int, rng: np.random.Generator) -> FloatArray:
    """The documented mixture: a near-liquidation mass plus 1 + log-normal."""
    body = 1.0 + np.minimum(rng.lognormal(np.log(HF_BODY_MEDIAN), HF_BODY_SIGMA, count),
                            HF_CAP - 1.0)
    near = rng.uniform(1.005, 1.10, count)
    return np.where(rng.random(count) < NEAR_LIQUIDATION_SHARE, near, body)


def collateral_usd(count: int, rng: np.random.Generator) -> FloatArray:
    return np.maximum(rng.lognormal(np.log(SIZE_MEDIAN_USD), SIZE_SIGMA, count), SIZE_FLOOR_USD)


def loan_population(count: int, asset: str = "ETH", seed: int = 7,
                    price: float | None = None) -> LoanPopulation:
    """`count` loans with `asset` collateral and USDC debt, deterministic for a seed."""
    if asset not in ASSETS:
        raise ValueError(f"asset must be one of {ASSETS}, not {asset!r}")
    p = default_price(asset) if price is None else price
    rng = np.random.default_rng(np.random.SeedSequence([seed, ASSETS.index(asset), 0x10A5]))
    names = list(PROTOCOL_SHARES)
    proto_idx = rng.choice(len(names), size=count, p=list(PROTOCOL_SHARES.values()))
    params = [RISK_PARAMS[(n, asset)] for n in names]
    lt = np.array([params[i].liquidation_threshold for i in range(len(names))])[proto_idx]
    bonus = np.array([params[i].liquidation_bonus for i in range(len(names))])[proto_idx]
    cf = np.array([params[i].close_factor for i in range(len(names))])[proto_idx]
    coll = np.round(collateral_usd(count, rng) / p, 6)
    hf = health_factors(count, rng)
    debt = np.round(coll * p * lt / hf, 2)
    desk = rng.random(count) < DESK_SHARE
    books = [DESK_BOOKS[i % len(DESK_BOOKS)] if d else MARKET_BOOK
             for i, d in enumerate(desk.tolist())]
    return LoanPopulation(asset, p, [names[i] for i in proto_idx.tolist()], books, coll, debt,
                          lt, bonus, cf)


def loan_blocks(pop: LoanPopulation, start_us: int, seed: int) -> list[Block]:
    """The index prices the loans need (at the start), then the loans over ten minutes."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB10C]))
    index = Block("index", np.full(2, start_us, np.int64),
                  {"underlying": [pop.asset, DEBT_ASSET], "price": [pop.price, 1.0]},
                  const={"source": "chainlink"})
    n = len(pop)
    ts = start_us + np.sort(rng.integers(1, 600_000, n)) * 1000
    rows: dict[str, list[object]] = {
        "book": list(pop.book),
        "position_id": [f"{proto}:{pop.asset}:{i:06d}" for i, proto in enumerate(pop.protocol)],
        "protocol": list(pop.protocol),
        "collateral_asset": [pop.asset] * n,
        "collateral_amount": pop.collateral_amount.tolist(),
        "debt_asset": [DEBT_ASSET] * n,
        "debt_amount": pop.debt_amount.tolist(),
        "liquidation_threshold": pop.liquidation_threshold.tolist(),
        "liquidation_bonus": pop.liquidation_bonus.tolist(),
        "close_factor": pop.close_factor.tolist(),
    }
    return [index, onchain_block("loan", ts, rows, ethereum(start_us).provenance(ts, rng))]


def write_loans(path: Path, count: int, asset: str = "ETH", seed: int = 7,
                price: float | None = None, start_us: int | None = None,
                show_progress: bool = True) -> int:
    """Write a replayable loans file; returns the number of events written."""
    start = market.to_us(market.START) if start_us is None else start_us
    pop = loan_population(count, asset, seed, price)
    blocks = loan_blocks(pop, start, seed)
    lines = (line for line, _ in render(blocks, f"loans-{asset.lower()}{seed}"))
    return atomic_write(path, lines, count + 2, "loans", show_progress)
