"""Volatility regimes (docs/contract.md part 2 "Volatility regimes"; docs/regimes.md).

Realized vol per underlying from its index prices, in event time. With λ = ln 2 / H
(H = ``regime_half_life_h`` in seconds) and, for each index price P_i at t_i after
the previous P_{i−1} at t_{i−1}, r_i = ln(P_i / P_{i−1}) and Δ_i = t_i − t_{i−1}:

    S ← S·e^(−λΔ_i) + r_i²          (decayed sum of squared log returns)
    T ← T·e^(−λΔ_i) + Δ_i           (decayed sum of their intervals, seconds)
    realized_vol = sqrt(S / T × 365·86400)

so each return is weighted by its own interval (S/T is the interval-weighted mean of
r²/Δ: a return over 10 minutes counts ten times one over a minute), and older
returns fade with half-life H of event time. The price is the index in force after
the oracle guard (core/oracle.py). The regime is first set once the estimator has
seen an hour of index history (``WARMUP_S``), by the plain bounds; afterwards it
moves only when the vol is beyond a bound by 10% of it (above b·1.1 to go up, below
b·0.9 to go down), so a vol that hovers at a bound does not flap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from greekstream.core.timeutil import MICROS_PER_SECOND

RegimeName = Literal["calm", "normal", "stressed"]
REGIMES: tuple[RegimeName, RegimeName, RegimeName] = ("calm", "normal", "stressed")
YEAR_S = 365 * 86_400
HYSTERESIS = 0.10
WARMUP_S = 3_600.0


@dataclass(slots=True)
class VolState:
    """One underlying's estimator: the last price used and the decayed sums."""

    price: float
    ts: int  # µs
    sq_returns: float = 0.0  # S
    seconds: float = 0.0  # T
    regime: RegimeName | None = None
    first_ts: int | None = None  # µs of the first price (warm-up)

    def realized_vol(self) -> float | None:
        if self.seconds <= 0.0:
            return None
        return math.sqrt(self.sq_returns / self.seconds * YEAR_S)

    def as_list(self) -> list[object]:
        return [self.price, self.ts, self.sq_returns, self.seconds, self.regime, self.first_ts]


def update(state: VolState, price: float, ts: int, half_life_h: float) -> None:
    """Fold one index price into the estimator (a price older than the last is ignored)."""
    dt = (ts - state.ts) / MICROS_PER_SECOND
    if dt < 0:
        return
    decay = math.exp(-math.log(2.0) * dt / (half_life_h * 3_600.0))
    r = math.log(price / state.price)
    state.sq_returns = state.sq_returns * decay + r * r
    state.seconds = state.seconds * decay + dt
    state.price, state.ts = price, ts


def classify(vol: float, current: RegimeName | None, bounds: tuple[float, float]
             ) -> RegimeName:
    """The regime for ``vol`` given the one in force (hysteresis of 10% of each bound)."""
    low, high = bounds
    if current is None:
        return "calm" if vol < low else "normal" if vol < high else "stressed"
    level = REGIMES.index(current)
    up = level
    if vol > high * (1 + HYSTERESIS):
        up = 2
    elif vol > low * (1 + HYSTERESIS):
        up = max(level, 1)
    if up > level:
        return REGIMES[up]
    down = level
    if vol < low * (1 - HYSTERESIS):
        down = 0
    elif vol < high * (1 - HYSTERESIS):
        down = min(level, 1)
    return REGIMES[down]


def next_regime(state: VolState, bounds: tuple[float, float]) -> RegimeName | None:
    """The regime after the latest update (None while warming up)."""
    vol = state.realized_vol()
    first = state.ts if state.first_ts is None else state.first_ts
    if vol is None or (state.regime is None and state.ts - first < WARMUP_S * 1_000_000):
        return state.regime
    return classify(vol, state.regime, bounds)


def atm_option(options: list[tuple[str, float, float, float]]) -> str | None:
    """Of (instrument_id, days to expiry, strike, forward) the one nearest to 30 days,
    then nearest to the money (|ln K/F|), then by id."""
    if not options:
        return None
    return min(options, key=lambda o: (abs(o[1] - 30.0), abs(math.log(o[2] / o[3])), o[0]))[0]


__all__ = [
    "REGIMES", "RegimeName", "VolState", "atm_option", "classify", "next_regime", "update",
]
