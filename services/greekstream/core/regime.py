"""Volatility regimes (docs/contract.md part 2 "Volatility regimes"; docs/regimes.md).

Realized vol per underlying from its index prices, in event time, per source. With
λ = ln 2 / H (H = ``regime_half_life_h`` in seconds) and, for each index price P_i of a
source at t_i after that SAME source's previous price P_prev at t_prev,
r_i = ln(P_i / P_prev) and Δ_i = t_i − t_prev, folded into one pair of sums:

    S ← S·e^(−λδ_i) + r_i²          (decayed sum of squared log returns)
    T ← T·e^(−λδ_i) + Δ_i           (decayed sum of their intervals, seconds)
    realized_vol = sqrt(S / T × 365·86400)

where δ_i is the event time since the estimator's last update (any source). So each
return is weighted by its own interval (S/T is the interval-weighted mean of r²/Δ: a
return over 10 minutes counts ten times one over a minute), older returns fade with
half-life H of event time, and the basis between two sources is never a return (with
one source δ_i = Δ_i: the single-series estimator). An index without ``source`` is the
source ``default`` (core/oracle.py). Only prices the oracle guard accepts feed the
estimator: an observation it holds re-samples its source's last accepted price (a zero
return over that source's interval), and a source's first accepted price only starts its
series. The regime is first set once the estimator has seen an hour of index history
(``WARMUP_S``, from the underlying's first index price, any source), by the plain
bounds; afterwards it moves only when the vol is beyond a bound by 10% of it (above
b·1.1 to go up, below b·0.9 to go down), so a vol that hovers at a bound does not flap.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from greekstream.core.oracle import DEFAULT_SOURCE
from greekstream.core.timeutil import MICROS_PER_SECOND

RegimeName = Literal["calm", "normal", "stressed"]
REGIMES: tuple[RegimeName, RegimeName, RegimeName] = ("calm", "normal", "stressed")
YEAR_S = 365 * 86_400
HYSTERESIS = 0.10
WARMUP_S = 3_600.0


@dataclass(slots=True)
class VolState:
    """One underlying's estimator: the last price used, the decayed sums, and each source's
    last accepted price."""

    price: float  # the last price folded (any source)
    ts: int  # µs of the estimator's last update (any source)
    sq_returns: float = 0.0  # S
    seconds: float = 0.0  # T
    regime: RegimeName | None = None
    first_ts: int | None = None  # µs of the first price (warm-up)
    # source -> (its last accepted price, µs of its last observation); None: not known (a
    # state built by hand): the first update takes ``price``/``ts`` as its source's
    sources: dict[str, tuple[float, int]] | None = None

    def realized_vol(self) -> float | None:
        if self.seconds <= 0.0:
            return None
        return math.sqrt(self.sq_returns / self.seconds * YEAR_S)

    def as_list(self) -> list[object]:
        sources = None if self.sources is None else {
            s: [p, t] for s, (p, t) in sorted(self.sources.items())}
        return [self.price, self.ts, self.sq_returns, self.seconds, self.regime, self.first_ts,
                sources]

    @classmethod
    def from_list(cls, row: list[Any], oracle_sources: Collection[str] = ()) -> VolState:
        """A snapshot's row. A row of six (written before the estimator kept its sources)
        was one series of the price in force: with one source known to the oracle
        (``oracle_sources``) that series is the source's own and goes on as it was; with
        several, each source starts its series afresh (at its next accepted price) and
        the decayed sums are kept."""
        price, ts, sq, secs, regime, first = row[:6]
        st = cls(price, ts, sq, secs, regime, first)
        if len(row) > 6:
            st.sources = None if row[6] is None else {
                s: (p, t) for s, (p, t) in row[6].items()}
        elif len(oracle_sources) == 1:
            st.sources = {next(iter(oracle_sources)): (price, ts)}
        else:
            st.sources = {}
        return st


def update(state: VolState, price: float | None, ts: int, half_life_h: float,
           source: str = DEFAULT_SOURCE) -> bool:
    """Fold one index observation of ``source`` into the estimator: ``price`` is the price
    the oracle guard accepted, None when it held the observation (its source's last
    accepted price is re-sampled: a zero return). The return is against the same source's
    previous price, over that source's interval; the decay is over the event time since
    the estimator's last update. Say whether anything was folded (not for a price older
    than the estimator's last, nor for a source's first price, which starts its series)."""
    dt = (ts - state.ts) / MICROS_PER_SECOND
    if dt < 0:
        return False
    if state.sources is None:
        state.sources = {source: (state.price, state.ts)}
    prev = state.sources.get(source)
    if prev is None:
        if price is not None:
            state.sources[source] = (price, ts)
        return False
    prev_price, prev_ts = prev
    if price is None:
        price = prev_price
    interval = (ts - prev_ts) / MICROS_PER_SECOND  # (one source: prev_ts is state.ts)
    decay = math.exp(-math.log(2.0) * dt / (half_life_h * 3_600.0))
    r = math.log(price / prev_price)
    state.sq_returns = state.sq_returns * decay + r * r
    state.seconds = state.seconds * decay + interval
    state.price, state.ts = price, ts
    state.sources[source] = (price, ts)
    return True


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
