"""A risk tick values the options of every (book, underlying) of one moment in one pass,
each instrument once (core/scenarios.py `share_option_values`); each key's matrix and
liquidation distance must have the same bits as the key valued on its own."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core import engine as engine_module
from greekstream.core import scenarios
from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import encode
from greekstream.core.portfolio import OptionLegs, PortfolioSlice
from greekstream.core.scenarios import (
    DEFAULT_GRID,
    Grid,
    book_scenario_risk,
    scenario_pnl,
    share_option_values,
)
from tests.unit import builders as b
from tests.unit.scenarios.slices import random_book

# time shifts past the shortest options' expiry and a tenor-scaled vol shock, as well
# as the default grid
GRIDS = (DEFAULT_GRID, Grid.product((-0.3, -0.05, 0.0, 0.1, 0.5), (-0.2, 0.0, 0.3),
                                   (0.0, 12.0, 48.0), tenor_power=(0.5, 0.3)))


def _books(seed: int, n_books: int) -> list[PortfolioSlice]:
    """Books that hold random subsets of one pool of options (the same instrument, the
    same forward, strike, time and vol in every book that holds it)."""
    rng = np.random.default_rng(seed)
    pool = random_book(seed, n_opt=30)
    pool = replace(pool, options=replace(pool.options, years=np.where(
        rng.random(30) < 0.2, 1.0 / 365.0, pool.options.years)))  # some expire inside 48 h
    o = pool.options
    books = []
    for k in range(n_books):
        pick = np.sort(rng.choice(30, size=int(rng.integers(0, 12)), replace=False))
        legs = OptionLegs(q=rng.normal(0.0, 5.0, len(pick)), forward=o.forward[pick],
                          strike=o.strike[pick], vol=o.vol[pick], years=o.years[pick],
                          is_call=o.is_call[pick], inverse=o.inverse[pick],
                          instrument_ids=tuple(o.instrument_ids[i] for i in pick))
        books.append(replace(pool, book=f"desk-{k}", options=legs))
    return books


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 8), st.sampled_from(GRIDS))
def test_each_books_grid_pnl_has_the_bits_of_the_book_valued_alone(
        seed: int, n_books: int, grid: Grid) -> None:
    alone = [scenario_pnl(s, grid) for s in _books(seed, n_books)]
    shared = _books(seed, n_books)
    share_option_values(shared, grid)
    for s, own in zip(shared, alone, strict=True):
        if len(s.options.q):
            assert s.options.memo["grid"][0] is grid  # it takes the shared rows
        assert scenario_pnl(s, grid).tobytes() == own.tobytes()
    other = GRIDS[1] if grid is GRIDS[0] else GRIDS[0]  # another grid values on its own
    for s, t in zip(shared, _books(seed, n_books), strict=True):
        assert scenario_pnl(s, other).tobytes() == scenario_pnl(t, other).tobytes()


def test_the_liquidation_search_over_shared_values_has_the_same_bits() -> None:
    margin = (25_000.0, 20_000.0)
    alone = [book_scenario_risk(s, GRIDS[1], margin) for s in _books(7, 6)]
    shared = _books(7, 6)
    share_option_values(shared, GRIDS[1])
    for s, own in zip(shared, alone, strict=True):
        got = book_scenario_risk(s, GRIDS[1], margin)
        assert got.matrix.pnl.tobytes() == own.matrix.pnl.tobytes()
        assert repr(got.liquidation) == repr(own.liquidation)


def _day() -> list[bytes]:
    """Twelve books holding overlapping options, two risk ticks (60 s apart)."""
    strikes = [44000.0 + 1000.0 * i for i in range(12)]
    records = [b.index("x0", 0, 50000.0), b.perp("BTC-PERPETUAL")]
    records += [b.option(f"O{i}", k, kind="call" if i % 2 else "put",
                         settlement="linear" if i % 3 else "inverse",
                         expiry=b.ts(7200 if i % 4 else 86_400 * 20))
                for i, k in enumerate(strikes)]
    records += [b.quote_opt(f"q0-{i}", 1, f"O{i}", 50000.0, 0.5 + i / 50.0)
                for i in range(len(strikes))]
    records += [b.quote_mark("qp0", 1, "BTC-PERPETUAL", 50010.0)]
    for n in range(12):
        records += [b.trade(f"t{n}-{i}", 2, f"O{i}", "buy" if (i + n) % 3 else "sell",
                            1 + (i * n) % 4, price=0.03, book=f"desk-{n}")
                    for i in range(n % 5, len(strikes), 1 + n % 3)]
        records += [b.trade(f"tp{n}", 3, "BTC-PERPETUAL", "sell", 1 + n, price=50000.0,
                            book=f"desk-{n}")]
    for t in (61, 122):
        records += [b.index(f"x{t}", t, 50000.0 + 40.0 * t)]
        records += [b.quote_opt(f"q{t}-{i}", t, f"O{i}", 50000.0 + 40.0 * t, 0.55 + i / 50.0)
                    for i in range(len(strikes))]
    return records


@pytest.mark.parametrize("emit_ms", [0, 100])
def test_a_risk_tick_over_shared_values_emits_the_same_bytes(
        emit_ms: int, monkeypatch: pytest.MonkeyPatch) -> None:
    records = _day()

    def run() -> list[bytes]:
        engine = Engine(EngineConfig(emit_interval_ms=emit_ms, risk_interval_s=60.0))
        out = [encode(o) for i, raw in enumerate(records) for o in engine.handle(raw, f"d:{i}")]
        return out + [encode(o) for o in engine.flush()]

    calls: list[int] = []
    real = scenarios.share_option_values

    def spy(slices: list[PortfolioSlice], grid: Grid) -> None:
        calls.append(len(slices))
        real(slices, grid)

    monkeypatch.setattr(engine_module, "share_option_values", spy)
    shared = run()
    assert max(calls) == 12  # a tick shared one pass among its twelve keys
    monkeypatch.setattr(engine_module, "share_option_values", lambda slices, grid: None)
    assert shared == run()
    assert sum(o.startswith(b'{"type":"risk_matrix"') for o in shared) >= 24
