"""The cascade chart's axes read in USD without a multiplier or an offset: millions sold
were ticks 0.5 .. 2.5 under a "1e6" above the axis, and rounds that barely move the price
were ticks "-0.000125" under "+8.71799999e4"."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import pytest

from greekstream.core.cascade import CascadeResult, CascadeRound
from greekstream.reports.plots import cascade_figure

NONE = np.zeros(0)


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Each test's figures closed (pyplot keeps them: over 20 open is a warning)."""
    yield
    plt.close("all")


def _ticks(rounds: tuple[CascadeRound, ...], initial: float, final: float
           ) -> list[tuple[str, list[str]]]:
    result = CascadeResult(asset="WBTC", shock=0.0, depth=1e12, initial_price=initial,
                           final_price=final, rounds=rounds, coll_end=NONE, debt_end=NONE,
                           seized=NONE, loan_pnl=NONE)
    fig = cascade_figure(result)
    fig.canvas.draw()
    return [(ax.yaxis.get_offset_text().get_text(),
             [t.get_text() for t in ax.get_yticklabels()]) for ax in fig.axes]


def test_millions_sold_read_in_usd_without_a_multiplier() -> None:
    rounds = tuple(CascadeRound(i + 1, 87_100.0 - i, 3, 2.5e6 / (i + 1)) for i in range(4))
    (price_offset, _), (sold_offset, sold) = _ticks(rounds, 87_180.0, 87_097.0)
    assert price_offset == "" and sold_offset == ""
    assert "1M" in sold and "2M" in sold, sold


def test_a_price_that_barely_moves_reads_as_prices() -> None:
    rounds = (CascadeRound(1, 87_180.0, 3, 40.0), CascadeRound(2, 87_179.9999, 1, 5.0))
    (price_offset, prices), _ = _ticks(rounds, 87_180.0, 87_179.9998)
    assert price_offset == ""
    assert all(float(p.replace(",", "")) > 87_179 for p in prices if p), prices
