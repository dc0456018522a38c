"""Prices keep their digits when they are small: the heatmap wrote an XRP-sized
liquidation price of 1.1342 USD as "@ 1", the stress table a USDC index of 0.9996 as
"1.00", and the cascade table a token at 0.00002345 USD as "0.0000" in every round."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest

from greekstream.commands.cascade import CascadeReport
from greekstream.commands.cascade import table_text as cascade_table
from greekstream.commands.stress import stress_reports
from greekstream.commands.stress import table_text as stress_table
from greekstream.core.cascade import CascadeResult, CascadeRound
from greekstream.core.scenarios import LiqDistance
from greekstream.core.timeutil import parse_ts
from greekstream.reports.plots import risk_figure
from tests.unit import builders as b

CALL = "BTC-27MAR26-60000-C"
NONE = np.zeros(0)


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def test_a_cascade_of_a_cheap_token_shows_its_prices() -> None:
    result = CascadeResult(asset="PEPE", shock=-0.2, depth=1e6, initial_price=0.00002345,
                           final_price=0.00001812,
                           rounds=(CascadeRound(1, 0.00001876, 4, 5e5),),
                           coll_end=NONE, debt_end=NONE, seized=NONE, loan_pnl=NONE)
    text = cascade_table(CascadeReport(result, {"a": -1.0}, 0, 4))
    assert "initial price 0.000023450" in text and "final 0.000018120" in text, text
    assert "0.000018760" in text, text


def test_small_index_and_liquidation_prices_keep_their_digits() -> None:
    engine = b.short_call_book(CALL)
    at = parse_ts(b.ts(3))
    (r,) = stress_reports(engine, at)
    small = replace(r, index_price=0.9996,
                    liquidation=LiqDistance(-0.5, None, 0.5671, None))
    text = stress_table([small], at)
    assert "index 0.9996" in text and "at 0.5671" in text, text
    fig = risk_figure([small], "t", as_of_us=at)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "@ 0.5671" in titles, titles
