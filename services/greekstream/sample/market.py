"""The simulated market of the sample data: a Deribit-like listing, spot paths and a vol surface.

Everything here is a pure function of its arguments and a ``numpy.random.Generator``;
no wall clock. Levels are illustrative (not a snapshot of any real day):

* spot follows a geometric Brownian motion on a one-second grid, BTC and ETH
  correlated (ρ = 0.8) with annualised vols of 55% and 70%;
* the forward of an expiry is F = S·e^{basis·T} (a small contango, 5-6% a year);
* implied vol is ATM(T)·(1 + skew·z + smile·z²) with z = ln(K/F)/(ATM·√T): an
  upward-sloping term structure and puts richer than calls (skew < 0), as on
  Deribit most of the time; ATM vol moves against spot (spot down, vol up).
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from greekstream.core.timeutil import MICROS_PER_SECOND, SECONDS_PER_YEAR

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
KIND_OPTION, KIND_FUTURE, KIND_PERPETUAL = 0, 1, 2
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_YEAR_US = float(SECONDS_PER_YEAR * MICROS_PER_SECOND)
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; every profile starts here


@dataclass(frozen=True)
class UnderlyingSpec:
    name: str
    spot: float
    realised_vol: float
    basis: float  # annualised, continuously compounded
    atm_short: float  # ATM implied vol at T -> 0
    atm_long: float  # ATM implied vol for long expiries
    strike_step: float  # the finest strike grid
    inverse_future_size: float  # USD face value per contract (Deribit: BTC 10, ETH 1)
    linear_perp_size: float  # coin per contract of the USDC-margined perpetual
    price_tick: float  # tick of perpetual/future marks and of the index rounding
    option_size: float  # median option trade size, contracts (1 coin each)


BTC = UnderlyingSpec("BTC", 87_250.0, 0.55, 0.05, 0.50, 0.58, 500.0, 10.0, 0.01, 0.5, 3.0)
ETH = UnderlyingSpec("ETH", 2_140.0, 0.70, 0.06, 0.64, 0.72, 25.0, 1.0, 0.1, 0.05, 40.0)
SPOT_CORRELATION = 0.8
SKEW, SMILE, SPOT_VOL_BETA = -0.06, 0.02, 0.8


@dataclass(frozen=True)
class Universe:
    """Every listed instrument, as parallel columns (index i is one instrument)."""

    ids: list[str]
    underlying: IntArray  # index into the specs
    kind: IntArray
    inverse: npt.NDArray[np.bool_]
    contract_size: FloatArray
    expiry_us: IntArray  # 0 for perpetuals
    strike: FloatArray  # nan for non-options
    is_call: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.ids)

    def where(self, mask: npt.NDArray[np.bool_]) -> IntArray:
        return np.flatnonzero(mask).astype(np.int64)


def to_us(moment: datetime) -> int:
    return int(moment.timestamp()) * MICROS_PER_SECOND


def deribit_code(expiry_us: int) -> str:
    d = datetime.fromtimestamp(expiry_us / MICROS_PER_SECOND, tz=UTC)
    return f"{d.day}{_MONTHS[d.month - 1]}{d.year % 100:02d}"


def _last_friday(year: int, month: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - 4) % 7)


def deribit_expiries(start_us: int, count: int) -> list[int]:
    """`count` Deribit-style expiries (08:00 UTC Fridays) at least a day after start: two
    weeklies, then monthlies and quarterlies out to a year, then more weeklies."""
    start = datetime.fromtimestamp(start_us / MICROS_PER_SECOND, tz=UTC).date()
    first = start + timedelta(days=1 + (4 - (start + timedelta(days=1)).weekday()) % 7)
    fridays = [first + timedelta(weeks=w) for w in range(60)]
    monthly = [f for f in fridays if f == _last_friday(f.year, f.month)]
    quarterly = [f for f in monthly if f.month in (3, 6, 9, 12)]
    weekly = [f for f in fridays if f not in monthly]
    chosen: list[date] = []
    for f in [*fridays[:2], *monthly[:3], *quarterly[:4], *weekly]:
        if f not in chosen and len(chosen) < count:
            chosen.append(f)
    return [to_us(datetime(f.year, f.month, f.day, 8, tzinfo=UTC)) for f in sorted(chosen)]


def years(expiry_us: IntArray | int, ts_us: IntArray | int) -> FloatArray:
    return np.asarray(np.subtract(expiry_us, ts_us), dtype=np.float64) / _YEAR_US


def atm_vol(spec: UnderlyingSpec, t: FloatArray) -> FloatArray:
    return spec.atm_long + (spec.atm_short - spec.atm_long) * np.exp(-np.asarray(t) / 0.25)


def smile_iv(atm: FloatArray, forward: FloatArray, strike: FloatArray, t: FloatArray) -> FloatArray:
    """Implied vol from the ATM level: puts richer (SKEW < 0), a little curvature."""
    z = np.clip(np.log(strike / forward) / (atm * np.sqrt(np.maximum(t, 1e-6))), -4.0, 4.0)
    return np.maximum(atm * (1.0 + SKEW * z + SMILE * z * z), 0.10)


def _nice_step(raw: float, base: float) -> float:
    for mult in (1, 2, 4, 10, 20, 40, 100, 200, 400, 1000):
        if base * mult >= raw:
            return base * mult
    return base * 1000


def strikes_for(spec: UnderlyingSpec, t: float, per_side: int) -> list[float]:
    """A uniform strike grid centred on the ATM forward, about ±2.5 ATM deviations wide."""
    fwd = spec.spot * math.exp(spec.basis * t)
    width = fwd * float(atm_vol(spec, np.array(t))) * math.sqrt(t) * 2.5
    step = _nice_step(width / per_side, spec.strike_step)
    centre = round(fwd / step) * step
    return [centre + j * step for j in range(-per_side, per_side + 1) if centre + j * step > 0]


@dataclass
class _Listing:
    ids: list[str]
    cols: list[tuple[int, int, bool, float, int, float, bool]]

    def add(self, iid: str, *row: object) -> None:
        self.ids.append(iid)
        self.cols.append(row)  # type: ignore[arg-type]


def build_universe(
    specs: list[UnderlyingSpec], start_us: int, n_expiries: int, per_side: int,
    n_futures: int, linear_option_strikes: int,
) -> Universe:
    """Inverse options, perpetual and futures per underlying, plus USDC-margined linear
    perpetuals and (for the last underlying) a few linear options on one expiry."""
    listing = _Listing([], [])
    expiries = deribit_expiries(start_us, n_expiries)
    for u, spec in enumerate(specs):
        listing.add(f"{spec.name}-PERPETUAL", u, KIND_PERPETUAL, True,
                    spec.inverse_future_size, 0, math.nan, False)
        listing.add(f"{spec.name}_USDC-PERPETUAL", u, KIND_PERPETUAL, False,
                    spec.linear_perp_size, 0, math.nan, False)
        for exp in expiries[-n_futures:] if n_futures else []:
            listing.add(f"{spec.name}-{deribit_code(exp)}", u, KIND_FUTURE, True,
                        spec.inverse_future_size, exp, math.nan, False)
        for exp in expiries:
            _add_options(listing, spec, u, exp, start_us, per_side, True, spec.name)
    if linear_option_strikes:
        u, spec = len(specs) - 1, specs[-1]
        _add_options(listing, spec, u, expiries[min(2, len(expiries) - 1)], start_us,
                     linear_option_strikes, False, f"{spec.name}_USDC")
    ids, cols = listing.ids, listing.cols
    arr = list(zip(*cols, strict=True))
    return Universe(
        ids=ids, underlying=np.array(arr[0], np.int64), kind=np.array(arr[1], np.int64),
        inverse=np.array(arr[2], np.bool_), contract_size=np.array(arr[3], np.float64),
        expiry_us=np.array(arr[4], np.int64), strike=np.array(arr[5], np.float64),
        is_call=np.array(arr[6], np.bool_),
    )


def _add_options(listing: _Listing, spec: UnderlyingSpec, u: int, exp: int, start_us: int,
                 per_side: int, inverse: bool, prefix: str) -> None:
    t = float(years(exp, start_us))
    code = deribit_code(exp)
    for k in strikes_for(spec, t, per_side):
        for call in (True, False):
            iid = f"{prefix}-{code}-{k:g}-{'C' if call else 'P'}"
            listing.add(iid, u, KIND_OPTION, inverse, 1.0, exp, k, call)


def spot_paths(specs: list[UnderlyingSpec], seconds: int, rng: np.random.Generator,
               vol_regimes: tuple[tuple[float, float], ...] = ()) -> FloatArray:
    """Correlated GBM spot, one value per second: shape (n_underlyings, seconds + 1).
    ``vol_regimes``: (from second, vol multiplier) steps, e.g. a calm morning and a spike."""
    n = len(specs)
    corr = np.full((n, n), SPOT_CORRELATION) + np.eye(n) * (1.0 - SPOT_CORRELATION)
    shocks = np.linalg.cholesky(corr) @ rng.standard_normal((n, seconds))
    dt = 1.0 / SECONDS_PER_YEAR
    scale = np.ones(seconds)
    for start, factor in vol_regimes:
        scale[int(start):] = factor
    vols = np.array([s.realised_vol for s in specs])[:, None] * scale[None, :]
    steps = -0.5 * vols**2 * dt + vols * math.sqrt(dt) * shocks
    logs = np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
    paths: FloatArray = np.array([s.spot for s in specs])[:, None] * np.exp(logs)
    return paths


@dataclass(frozen=True)
class Market:
    """Spot paths plus the rules that turn them into forwards, marks and implied vols."""

    specs: list[UnderlyingSpec]
    start_us: int
    spot: FloatArray  # (n_underlyings, seconds + 1)

    def spot_at(self, u: IntArray, ts_us: IntArray) -> FloatArray:
        sec = np.clip((ts_us - self.start_us) // MICROS_PER_SECOND, 0, self.spot.shape[1] - 1)
        return self.spot[u, sec]

    def basis(self, u: IntArray) -> FloatArray:
        return np.array([s.basis for s in self.specs])[u]

    def option_iv(self, uni: Universe, inst: IntArray, ts_us: IntArray, fwd: FloatArray,
                  noise: FloatArray) -> FloatArray:
        u = uni.underlying[inst]
        t = years(uni.expiry_us[inst], ts_us)
        atm = np.empty(len(inst))
        for k, spec in enumerate(self.specs):
            sel = u == k
            atm[sel] = atm_vol(spec, t[sel])
        ret = np.log(self.spot_at(u, ts_us) / self.spot[u, 0])
        atm = atm - SPOT_VOL_BETA * ret + noise
        return smile_iv(atm, fwd, uni.strike[inst], t)

    def forward(self, uni: Universe, inst: IntArray, ts_us: IntArray) -> FloatArray:
        u = uni.underlying[inst]
        t = np.where(uni.kind[inst] == KIND_PERPETUAL, 0.0, years(uni.expiry_us[inst], ts_us))
        return self.spot_at(u, ts_us) * np.exp(self.basis(u) * t)
