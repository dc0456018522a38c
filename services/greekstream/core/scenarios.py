"""Scenario risk by full revaluation (docs/contract.md, *Scenario risk* and *Liquidation distance*).

A scenario (p, v, h) moves every forward, mark and the index of one underlying by
the factor (1 + p), every option vol to max(σ + v, 0.01), and time forward by h
hours. The P&L of a (book, underlying) in USD is, per position:

    option (linear or inverse)       q·(V(F', K, σ', T') − V(F, K, σ, T))
    linear future, perpetual, spot   q·(F' − F)
    inverse future, perpetual        n·contract_size·(1/F − 1/F')·F'
    collateral in the coin           c·(S' − S)
    loan                             Δ(coll·P_c − debt·P_d), the underlying's leg shocked
    concentrated-liquidity LP        value(S') − value(S)

Every grid is evaluated in one numpy pass over positions × scenarios.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any

import numpy as np
from scipy.special import ndtr

from greekstream.core.events import RiskMatrixEvent, ScenarioPnl, build
from greekstream.core.greeks import BoolArray, FloatArray
from greekstream.core.onchain import lp_value
from greekstream.core.portfolio import LoanLegs, LpLegs, PortfolioSlice
from greekstream.core.records import record
from greekstream.core.timeutil import SECONDS_PER_YEAR

MIN_VOL = 0.01
# USD stablecoins: never shocked by a price grid or a historical return, only by their
# own named depeg scenarios (docs/contract.md, *Historical VaR*; docs/scenarios.md)
STABLECOINS = frozenset(("USD", "USDC", "USDT", "DAI"))


@dataclass(frozen=True)
class Scenario:
    price_shock: float
    vol_shock: float = 0.0
    time_shift_h: float = 0.0
    name: str | None = None  # set for a named stress scenario, None for a grid cell


Columns = tuple[FloatArray, Any]  # the distinct (v, h) columns, each scenario's column


@dataclass(frozen=True)
class Grid:
    """Scenarios as parallel arrays (one entry per scenario), in grid order."""

    price_shock: FloatArray
    vol_shock: FloatArray
    time_shift_h: FloatArray
    names: tuple[str | None, ...] = ()
    # (w_up, w_down): each option's vol shock v is scaled by (30/DTE)^w, w_up for v > 0
    # and w_down for v < 0 (DTE in days, at least 1); None: every option gets v as is
    tenor_power: tuple[float, float] | None = None

    @classmethod
    def product(
        cls, price_shocks: Sequence[float], vol_shocks: Sequence[float] = (0.0,),
        time_shifts_h: Sequence[float] = (0.0,), tenor_power: tuple[float, float] | None = None,
    ) -> Grid:
        """Every (p, v, h), price-major: p varies slowest, then v, then h."""
        rows = list(itertools.product(price_shocks, vol_shocks, time_shifts_h))
        return cls.of([Scenario(p, v, h) for p, v, h in rows], tenor_power)

    @classmethod
    def of(cls, scenarios: Sequence[Scenario],
           tenor_power: tuple[float, float] | None = None) -> Grid:
        return cls(
            price_shock=np.array([s.price_shock for s in scenarios], dtype=np.float64),
            vol_shock=np.array([s.vol_shock for s in scenarios], dtype=np.float64),
            time_shift_h=np.array([s.time_shift_h for s in scenarios], dtype=np.float64),
            names=tuple(s.name for s in scenarios),
            tenor_power=tenor_power,
        )

    @cached_property
    def columns(self) -> Columns:
        """The grid's distinct (v, h) columns, once (a risk tick revalues every book on
        the same grid)."""
        return grid_columns(self.vol_shock, self.time_shift_h)

    def __len__(self) -> int:
        return int(self.price_shock.shape[0])

    def __add__(self, other: Grid) -> Grid:
        """Both grids' scenarios; a tenor-scaled grid scales the added scenarios too."""
        return Grid.of(self.scenarios() + other.scenarios(),
                       self.tenor_power or other.tenor_power)

    def scenario(self, i: int) -> Scenario:
        name = self.names[i] if self.names else None
        return Scenario(float(self.price_shock[i]), float(self.vol_shock[i]),
                        float(self.time_shift_h[i]), name)

    def scenarios(self) -> list[Scenario]:
        return [self.scenario(i) for i in range(len(self))]


DEFAULT_PRICE_SHOCKS = (-0.50, -0.30, -0.20, -0.16, -0.12, -0.08, -0.04, 0.0,
                        0.04, 0.08, 0.12, 0.16, 0.20, 0.30, 0.50)
DEFAULT_VOL_SHOCKS = (-0.20, 0.0, 0.20)
DEFAULT_GRID = Grid.product(DEFAULT_PRICE_SHOCKS, DEFAULT_VOL_SHOCKS)
EMPTY_GRID = Grid.of([])  # a stablecoin's grid without depeg scenarios: no risk matrix
Curve = Callable[[FloatArray], FloatArray]  # G(p) over an array of price shocks


# ----------------------------------------------------------------------------- P&L


def pnl(
    s: PortfolioSlice, price_shock: FloatArray, vol_shock: FloatArray | None = None,
    time_shift_h: FloatArray | None = None, tenor_power: tuple[float, float] | None = None,
    columns: Columns | None = None, grid: Grid | None = None,
) -> FloatArray:
    """P&L in USD of the slice for each scenario (parallel 1-D arrays, one per scenario);
    ``tenor_power`` scales each option's vol shock by its tenor (:class:`Grid`);
    ``columns``: the (v, h) columns of these arrays when known (:attr:`Grid.columns`);
    ``grid``: the grid these arrays are, when they are one (its shared option values)."""
    p = np.asarray(price_shock, dtype=np.float64)
    v = np.zeros_like(p) if vol_shock is None else np.asarray(vol_shock, dtype=np.float64)
    h = np.zeros_like(p) if time_shift_h is None else np.asarray(time_shift_h, dtype=np.float64)
    growth = 1.0 + p
    total = _options_pnl(s, growth, v, h, tenor_power, columns, grid)
    lin = s.linear
    if lin.q.size:
        f = lin.mark[:, None]
        total += lin.q @ (f * growth[None, :] - f)
        if lin.funding_per_h.size and lin.funding_per_h.any() and h.any():
            # h/interval_h periods of the last rate at the shocked mark (a long pays)
            total -= h * ((lin.q * lin.funding_per_h) @ (f * growth[None, :]))
    inv = s.inverse
    if inv.n.size:
        f = inv.mark[:, None]
        f_new = f * growth[None, :]
        # USD per coin (1/F − 1/F')·F' = F'/F − 1: at a price of zero (a cascade sold to
        # nothing, p = −1) its limit −1, where the formula is inf·0 (nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            move = (1.0 / f - 1.0 / f_new) * f_new
        total += (inv.n * inv.contract_size) @ np.where(f_new == 0.0, -1.0, move)
        if inv.funding_per_h.size and inv.funding_per_h.any() and h.any():
            total -= h * float((inv.n * inv.contract_size * inv.funding_per_h).sum())
    if s.index_price is not None:
        spot = s.index_price
        total += s.collateral * (spot * growth - spot)
        total += _loans_pnl(s.loans, growth)
        total += _lps_pnl(s.lps, spot, spot * growth)
    return total


def scenario_pnl(s: PortfolioSlice, grid: Grid = DEFAULT_GRID) -> FloatArray:
    """P&L in USD of every scenario of the grid, in grid order."""
    return pnl(s, grid.price_shock, grid.vol_shock, grid.time_shift_h, grid.tenor_power,
               grid.columns if len(grid) else None, grid)


def share_option_values(slices: Sequence[PortfolioSlice], grid: Grid) -> None:
    """Value the options of many slices of one moment over ``grid`` in one pass, each
    instrument once, and give each slice its rows (:func:`scenario_pnl` and the
    liquidation search then use them instead of valuing the slice's options on their own).

    A risk tick reports every (book, underlying) at the same time, and the books hold
    the same instruments: per slice, numpy's fixed cost was most of the work. Every
    entry is the same elementwise IEEE operations on the same inputs as the slice's own
    pass (an option's row depends only on its forward, strike, time, vol and kind, which
    are the instrument's at that moment), so each slice's P&L has the same bits.
    """
    rows: dict[str, int] = {}
    sources: list[tuple[Any, int]] = []  # each instrument's first (legs, position)
    picks: list[list[int]] = []
    for s in slices:
        o = s.options
        pick = []
        for i, iid in enumerate(o.instrument_ids):
            row = rows.get(iid)
            if row is None:
                row = rows[iid] = len(sources)
                sources.append((o, i))
            pick.append(row)
        picks.append(pick)
    if not sources:
        return
    forward = np.array([o.forward[i] for o, i in sources])
    strike = np.array([o.strike[i] for o, i in sources])
    years = np.array([o.years[i] for o, i in sources])
    vol = np.array([o.vol[i] for o, i in sources])
    is_call = np.array([o.is_call[i] for o, i in sources], dtype=np.bool_)
    base = _base_values(forward, strike, years, vol, is_call)
    values = _grid_values(forward, strike, years, vol, is_call, 1.0 + grid.price_shock,
                          grid.vol_shock, grid.time_shift_h, grid.tenor_power,
                          grid.columns if len(grid) else None, base)
    for s, pick in zip(slices, picks, strict=True):
        if pick:
            idx = np.array(pick, dtype=np.intp)
            s.options.memo["base"] = base[idx]
            s.options.memo["grid"] = (grid, values[idx])


TENOR_DAYS = 30.0  # the tenor whose vol shock is the grid's v
MIN_TENOR_DAYS = 1.0  # shorter options are scaled as a one-day option (no blow-up at expiry)


def tenor_scales(years: FloatArray, power: tuple[float, float]) -> tuple[FloatArray, FloatArray]:
    """(30/DTE)^w_up and (30/DTE)^w_down per option, DTE in days (at least one)."""
    ratio = TENOR_DAYS / np.maximum(years * 365.0, MIN_TENOR_DAYS)
    return ratio ** power[0], ratio ** power[1]


def _options_pnl(s: PortfolioSlice, growth: FloatArray, v: FloatArray, h: FloatArray,
                 tenor_power: tuple[float, float] | None = None,
                 columns: Columns | None = None, grid: Grid | None = None) -> FloatArray:
    o = s.options
    if not o.q.size:
        return np.zeros(growth.shape[0], dtype=np.float64)
    shared = o.memo.get("grid")  # valued with other slices' options (share_option_values)
    if shared is not None and grid is not None and shared[0] is grid:
        result: FloatArray = o.q @ shared[1]
        return result
    base = o.memo.get("base")  # computed once per slice (a search calls often)
    if base is None:
        base = o.memo["base"] = _base_values(o.forward, o.strike, o.years, o.vol, o.is_call)
    shocked = _grid_values(o.forward, o.strike, o.years, o.vol, o.is_call, growth, v, h,
                           tenor_power, columns, base)
    result = o.q @ shocked
    return result


def _base_values(forward: FloatArray, strike: FloatArray, years: FloatArray, vol: FloatArray,
                 is_call: BoolArray) -> FloatArray:
    """The options' values now, from the same kernel as the shocked ones (no shock, no
    vol floor), so that a zero shock gives exactly zero P&L rather than the ulps between
    two implementations."""
    zero = np.zeros(1)
    values: FloatArray = shocked_values(forward, strike, years, vol, is_call, zero + 1.0, zero,
                                        zero, min_vol=0.0)[:, 0]
    return values


def _grid_values(forward: FloatArray, strike: FloatArray, years: FloatArray, vol: FloatArray,
                 is_call: BoolArray, growth: FloatArray, v: FloatArray, h: FloatArray,
                 tenor_power: tuple[float, float] | None, columns: Columns | None,
                 base: FloatArray) -> FloatArray:
    """Each option's value change per scenario (options × scenarios)."""
    scales = None if tenor_power is None else tenor_scales(years, tenor_power)
    shocked = shocked_values(forward, strike, years, vol, is_call, growth, v, h,
                             vol_scales=scales, columns=columns)
    shocked -= base[:, None]
    return shocked


def grid_columns(vol_shock: FloatArray, time_shift_h: FloatArray) -> Columns:
    """The distinct (v, h) columns of a grid and each scenario's column (None: every
    scenario is its own column, in order)."""
    columns, which = np.unique(np.stack([vol_shock, time_shift_h]), axis=1, return_inverse=True)
    if columns.shape[1] == vol_shock.shape[0]:  # all distinct (historical days): no gather
        return np.stack([vol_shock, time_shift_h]), None
    return columns, which


def shocked_values(
    forward: FloatArray, strike: FloatArray, years: FloatArray, vol: FloatArray,
    is_call: BoolArray, growth: FloatArray, vol_shock: FloatArray, time_shift_h: FloatArray,
    min_vol: float = MIN_VOL, vol_scales: tuple[FloatArray, FloatArray] | None = None,
    columns: Columns | None = None,
) -> FloatArray:
    """Black-76 values (positions × scenarios) at F·growth, max(σ + v, min_vol), T − h;
    with ``vol_scales`` (per position, for v > 0 and v < 0) v is v·scale instead.

    The same formulas as :func:`greekstream.core.greeks.black76_value` (a test keeps
    them equal), arranged for a grid: ln(F'/K) = ln(F/K) + ln(1 + p) is separable, and
    σ'√T' is computed once per distinct (v, h) column, so only d1, d2, the two normal
    cdfs and the value itself are positions × scenarios passes.
    """
    sign = np.where(is_call, 1.0, -1.0)[:, None]
    if columns is not None:  # the grid's own (Grid.columns)
        cols, which = columns
    elif vol_shock.size and np.all(vol_shock == vol_shock[0]) and \
            np.all(time_shift_h == time_shift_h[0]):  # one column (liquidation search)
        cols = np.array([[vol_shock[0]], [time_shift_h[0]]], dtype=np.float64)
        which = np.zeros(vol_shock.shape[0], dtype=np.intp)
    else:
        cols, which = grid_columns(vol_shock, time_shift_h)
    t = years[:, None] - (cols[1] * (3600.0 / SECONDS_PER_YEAR))[None, :]
    live = t > 0.0
    shock = cols[0][None, :]
    if vol_scales is not None:
        shock = shock * np.where(shock > 0.0, vol_scales[0][:, None], vol_scales[1][:, None])
    sig_sqrt_t = (np.maximum(vol[:, None] + shock, min_vol)
                  * np.sqrt(np.where(live, t, 1.0)))
    if which is not None:
        sig_sqrt_t = sig_sqrt_t[:, which]
    with np.errstate(divide="ignore"):  # p = −1 (a price of zero): x = −inf, the limits
        x = np.log(forward / strike)[:, None] + np.log(growth)[None, :]
    x /= sig_sqrt_t
    sig_sqrt_t *= 0.5
    d1 = x + sig_sqrt_t
    d2 = np.subtract(x, sig_sqrt_t, out=x)
    d1 *= sign
    d2 *= sign
    n1 = ndtr(d1, out=d1)
    n2 = ndtr(d2, out=d2)
    f_new = forward[:, None] * growth[None, :]
    n1 *= f_new
    n2 *= strike[:, None]
    n1 -= n2
    n1 *= sign
    if not live.all():
        expired = ~(live if which is None else live[:, which])
        n1 = np.where(expired, np.maximum(sign * (f_new - strike[:, None]), 0.0), n1)
    values: FloatArray = n1
    return values


def _loans_pnl(loans: LoanLegs, growth: FloatArray) -> FloatArray:
    """Δ(coll·P_c − debt·P_d): only the legs in this slice's underlying move."""
    if not loans.coll_amount.size:
        return np.zeros_like(growth)
    move = growth[None, :] - 1.0
    coll = np.where(loans.coll_is_underlying, loans.coll_amount * loans.coll_price, 0.0)
    debt = np.where(loans.debt_is_underlying, loans.debt_amount * loans.debt_price, 0.0)
    result: FloatArray = np.sum((coll - debt)[:, None] * move, axis=0)
    return result


def _lps_pnl(lps: LpLegs, spot: float, shocked: FloatArray) -> FloatArray:
    if not lps.liquidity.size:
        return np.zeros_like(shocked)
    args = (lps.liquidity[:, None], lps.price_lower[:, None], lps.price_upper[:, None])
    now = lp_value(*args, np.full((1, 1), spot))
    later = lp_value(*args, shocked[None, :])
    result: FloatArray = np.sum(later - now, axis=0)
    return result


# ----------------------------------------------------------------------------- the matrix


@record
class RiskMatrix:
    book: str
    underlying: str
    as_of_us: int
    grid: Grid
    pnl: FloatArray
    worst_loss: float
    worst_index: int

    @property
    def worst_scenario(self) -> Scenario:
        return self.grid.scenario(self.worst_index)


def risk_matrix(s: PortfolioSlice, grid: Grid = DEFAULT_GRID) -> RiskMatrix:
    """The grid's P&L; worst_loss = max(0, −min P&L), ties going to the first scenario."""
    if not len(grid):
        raise ValueError("an empty scenario grid")
    values = scenario_pnl(s, grid)
    worst = int(np.argmin(values))  # argmin returns the first of equal minima
    return RiskMatrix(s.book, s.underlying, s.as_of_us, grid, values,
                      max(0.0, -float(values[worst])), worst)


# ----------------------------------------------------------------------------- liquidation


@record
class LiqDistance:
    move_down: float | None
    move_up: float | None
    price_down: float | None
    price_up: float | None


STEP = 0.001
DOWN_STEPS = 990  # p = 0, −0.001, …, −0.99
UP_STEPS = 10_000  # p = 0, +0.001, …, +10.0
BISECT_TOL = 1e-7


def liquidation_distance(
    s: PortfolioSlice, equity: float, maintenance_margin: float
) -> LiqDistance:
    """Price moves (vol unchanged) at which G(p) = equity + P&L(p, 0) − mm reaches 0.

    Per docs/contract.md: step p = 0, ∓0.001, … (to −0.99 down, +10.0 up) to the first step
    where G ≤ 0, then bisect between it and the previous step until the bracket is
    narrower than 1e-7; the returned move is the **midpoint of that final bracket**.
    G(0) ≤ 0 gives 0 both ways; no crossing in range gives None. The liquidation
    price is S·(1 + move), None without an index price.

    The stepping finds exactly the step a full scan finds, without evaluating every
    step: with vol unchanged every position's P&L is monotone in p (an option's value
    in its forward, a future's, the collateral's, a loan's and an LP's value in the
    price), so G = cushion + U(p) + D(p) with U rising and D falling, and on a block
    of steps [lo, hi] G ≥ cushion + U(lo) + D(hi). Blocks whose bound is positive
    hold no crossing; the others are split (256 → 16 → 1 steps) in order.
    """
    cushion = equity - maintenance_margin

    def g(p: FloatArray) -> FloatArray:
        result: FloatArray = cushion + pnl(s, p)
        return result

    rising, falling = split_by_direction(s)

    def bound(lo: FloatArray, hi: FloatArray) -> tuple[FloatArray, FloatArray]:
        u, d = pnl(rising, lo), pnl(falling, hi)
        return cushion + u + d, abs(cushion) + np.abs(u) + np.abs(d)

    if float(g(np.zeros(1))[0]) <= 0.0:
        down: float | None = 0.0
        up: float | None = 0.0
    else:
        down = _first_crossing(g, bound, -1.0, DOWN_STEPS)
        up = _first_crossing(g, bound, 1.0, UP_STEPS)
    spot = s.index_price
    return LiqDistance(
        move_down=down,
        move_up=up,
        price_down=None if down is None or spot is None else spot * (1.0 + down),
        price_up=None if up is None or spot is None else spot * (1.0 + up),
    )


Bound = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]
_BLOCKS = (256, 16)  # block sizes in steps, coarse to fine; then single steps
_BOUND_SLACK = 1e-9  # a bound this close to 0 (relative to its terms) is checked exactly


def _first_crossing(g: Curve, bound: Bound, direction: float, steps: int) -> float | None:
    first = _first_step(g, bound, direction, 1, steps, 0)
    if first is None:
        return None
    return _bisect(g, direction * (first - 1.0) / 1000.0, direction * first / 1000.0)


def _first_step(g: Curve, bound: Bound, direction: float, first: int, last: int,
                level: int) -> float | None:
    """The first step k in [first, last] with G(direction·k/1000) ≤ 0, or None."""
    if level == len(_BLOCKS):
        k = np.arange(first, last + 1, dtype=np.float64)
        hits = np.flatnonzero(g(direction * k / 1000.0) <= 0.0)
        return float(k[hits[0]]) if hits.size else None
    width = _BLOCKS[level]
    starts = np.arange(first, last + 1, width, dtype=np.int64)
    ends = np.minimum(starts + width - 1, last)
    a, b = direction * starts / 1000.0, direction * ends / 1000.0
    low, scale = bound(np.minimum(a, b), np.maximum(a, b))
    for i in np.flatnonzero(low <= _BOUND_SLACK * scale):
        found = _first_step(g, bound, direction, int(starts[i]), int(ends[i]), level + 1)
        if found is not None:
            return found
    return None


def split_by_direction(s: PortfolioSlice) -> tuple[PortfolioSlice, PortfolioSlice]:
    """The slice's positions whose P&L rises with the price, and those whose P&L falls
    (vol and time unchanged); their P&Ls add up to the slice's."""
    o, lin, inv, loans = s.options, s.linear, s.inverse, s.loans
    opt_up = (o.q > 0) == o.is_call
    lin_up = lin.q > 0
    inv_up = inv.n > 0
    loan_net = (np.where(loans.coll_is_underlying, loans.coll_amount * loans.coll_price, 0.0)
                - np.where(loans.debt_is_underlying, loans.debt_amount * loans.debt_price, 0.0))
    loan_up = loan_net > 0

    def part(rising: bool) -> PortfolioSlice:
        def pick(mask: BoolArray) -> BoolArray:
            return mask if rising else ~mask

        return replace(
            s,
            collateral=s.collateral if (s.collateral > 0) == rising else 0.0,
            options=_take(o, pick(opt_up)),
            linear=_take(lin, pick(lin_up)),
            inverse=_take(inv, pick(inv_up)),
            loans=_take(loans, pick(loan_up)),
            lps=s.lps if rising else _take(s.lps, np.zeros(s.lps.liquidity.shape, np.bool_)),
        )

    return part(True), part(False)


def _take(legs: Any, mask: BoolArray) -> Any:
    """The legs where ``mask`` holds (arrays filtered, id tuples too)."""
    changes: dict[str, Any] = {}
    for f in fields(legs):
        if not f.init:  # derived (OptionLegs.memo): the copy starts its own
            continue
        value = getattr(legs, f.name)
        if isinstance(value, np.ndarray):
            if len(value) == mask.size:  # funding_per_h is optional in hand-built slices
                changes[f.name] = value[mask]
        elif len(value) == mask.size:  # ids are optional in hand-built slices
            changes[f.name] = tuple(x for x, keep in zip(value, mask.tolist(), strict=True)
                                    if keep)
    return replace(legs, **changes)


_SECTION_DEPTH = 5  # bisection steps decided per vectorized evaluation (31 points)


def _midpoints(a: float, d: float, depth: int, into: dict[float, None]) -> None:
    """Every midpoint bisection of [a, d] can visit in ``depth`` steps (same arithmetic)."""
    if depth == 0 or abs(d - a) < BISECT_TOL:
        return
    m = 0.5 * (a + d)
    into[m] = None
    _midpoints(a, m, depth - 1, into)
    _midpoints(m, d, depth - 1, into)


def _bisect(g: Curve, alive: float, dead: float) -> float:
    """Narrow [alive (G > 0), dead (G ≤ 0)] below BISECT_TOL; return its midpoint.

    Plain bisection, but the midpoints it may visit in its next few steps are
    evaluated in one call, then the steps are taken exactly as one at a time would.
    """
    while abs(dead - alive) >= BISECT_TOL:
        points: dict[float, None] = {}

        _midpoints(alive, dead, _SECTION_DEPTH, points)
        xs = list(points)
        at_or_below = dict(zip(xs, (g(np.array(xs)) <= 0.0).tolist(), strict=True))
        for _ in range(_SECTION_DEPTH):
            if abs(dead - alive) < BISECT_TOL:
                break
            mid = 0.5 * (alive + dead)
            if at_or_below[mid]:
                dead = mid
            else:
                alive = mid
    return 0.5 * (alive + dead)


# ----------------------------------------------------------------------------- output event


def scenario_row(m: RiskMatrix, i: int) -> ScenarioPnl:
    """Scenario ``i`` of the grid with its P&L (built without re-validation: every value is
    a finite float from the kernel)."""
    g = m.grid
    return build(ScenarioPnl, price_shock=float(g.price_shock[i]),
                 vol_shock=float(g.vol_shock[i]), time_shift_h=float(g.time_shift_h[i]),
                 pnl=float(m.pnl[i]), name=g.names[i] if g.names else None)


def risk_matrix_event(
    m: RiskMatrix, liq: LiqDistance | None, *, event_id: str, ts_us: int, caused_by: str
) -> RiskMatrixEvent:
    """The matrix as columns (docs/contract.md, *Scenario risk*): one array per scenario
    field, cell i across them, in the grid's order."""
    if not np.isfinite(m.pnl).all():
        raise ValueError(f"non-finite scenario P&L for {m.book}/{m.underlying}")
    g = m.grid
    liq = liq or LiqDistance(None, None, None, None)
    return build(
        RiskMatrixEvent, event_id=event_id, ts=ts_us, book=m.book, underlying=m.underlying,
        as_of=m.as_of_us, price_shocks=g.price_shock.tolist(), vol_shocks=g.vol_shock.tolist(),
        time_shift_h=g.time_shift_h.tolist(), names=list(g.names or (None,) * len(g)),
        pnl=m.pnl.tolist(), worst_loss=m.worst_loss,
        worst_scenario=scenario_row(m, m.worst_index),
        liq_move_down=liq.move_down, liq_move_up=liq.move_up,
        liq_price_down=liq.price_down, liq_price_up=liq.price_up, caused_by=caused_by,
    )


# ----------------------------------------------------------------------------- one book


@record
class BookScenarioRisk:
    """A (book, underlying)'s risk matrix and, given a margin report, its liquidation distance."""

    matrix: RiskMatrix
    liquidation: LiqDistance | None
    index_price: float | None


def book_scenario_risk(
    s: PortfolioSlice, grid: Grid = DEFAULT_GRID, margin: tuple[float, float] | None = None
) -> BookScenarioRisk:
    """``margin`` is the latest venue report (equity USD, maintenance margin USD), if any."""
    liq = None if margin is None else liquidation_distance(s, margin[0], margin[1])
    return BookScenarioRisk(risk_matrix(s, grid), liq, s.index_price)
