"""A deterministic year of daily returns for `greekstream var` (a sample, not market data).

BTC and ETH log returns (WBTC: BTC's plus a small basis noise) with fat tails (Student-t,
4 degrees of freedom), daily vols of about 3.2 % and 4.1 % (60-65 % annualised), a
correlation of 0.8, and ATM-vol changes that rise when prices fall (the leverage effect);
the last day is 2026-03-01, the day before the sample events.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np

from greekstream.runtime.whole_file import write_whole
from greekstream.sample.writer import make_parent

UNDERLYINGS = ("BTC", "ETH", "WBTC")
LAST_DAY = date(2026, 3, 1)


def write_sample_returns(path: Path, days: int = 365, seed: int = 7) -> int:
    rng = np.random.default_rng(seed)
    dof = 4.0
    shocks = rng.standard_t(dof, size=(days, 2)) / np.sqrt(dof / (dof - 2.0))
    common, own = shocks[:, 0], shocks[:, 1]
    btc = 0.032 * common
    eth = 0.041 * (0.8 * common + 0.6 * own)
    noise = rng.normal(0.0, 0.006, size=(days, 2))
    btc_vol, eth_vol = -0.35 * btc + noise[:, 0], -0.35 * eth + noise[:, 1]
    wbtc = btc + rng.normal(0.0, 0.002, size=days)
    lines = ["date,BTC,BTC_vol,ETH,ETH_vol,WBTC"]
    first = LAST_DAY - timedelta(days=days - 1)
    for j in range(days):
        day = (first + timedelta(days=j)).isoformat()
        lines.append(f"{day},{btc[j]:.6f},{btc_vol[j]:.6f},{eth[j]:.6f},{eth_vol[j]:.6f},"
                     f"{wbtc[j]:.6f}")
    make_parent(Path(path))
    write_whole(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return days
