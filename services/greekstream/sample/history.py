"""A year of daily market history for VaR: BTC and ETH closes and 30-day ATM options.

    python -m greekstream.sample history --out history.jsonl [--days 366] [--seed 7]

Per UTC day, ending the day before the demo day (2026-03-01): an `index` close of BTC,
ETH and WBTC at 23:00, and one listed 30-day at-the-money call of BTC and ETH (its
`instrument` event at 22:59, its `quote` with the forward and the day's ATM vol at
23:00), so `greekstream returns` finds a close and an ATM vol every day.

The model (deterministic from the seed; no wall clock):

* daily log returns are Student-t with 3 degrees of freedom (fat tails: a 4-sigma day
  is about 30 times as likely as under a normal), scaled to 55 % (BTC) and 70 % (ETH)
  annualised, correlated at 0.8 through a shared factor;
* a crash week about two-thirds of the way through: seven days of
  −8, −14, −4, +6, −17, −5, −7 % for BTC (about −40 % in the week, like June 2022),
  with ETH 1.2 times as hard;
* WBTC is BTC with a few basis points of wrapper noise (it has no options);
* ATM vol mean-reverts (10 % a day) to 55 % / 70 %, rises when prices fall (−1.5 vol
  points per 1 % down) and jumps in the crash week.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

from greekstream.runtime.whole_file import write_whole
from greekstream.sample.market import START
from greekstream.sample.writer import make_parent

SPECS = {"BTC": (87_250.0, 0.55, 1.0), "ETH": (2_140.0, 0.70, 1.2)}  # spot, vol, crash beta
CRASH = (-0.08, -0.14, -0.04, 0.06, -0.17, -0.05, -0.07)
DEFAULT_DAYS = 366


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def daily_paths(days: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per underlying: closes (days) and ATM vols (days), the last close at the demo's
    starting spot."""
    rng = np.random.default_rng([seed, 366])
    t3 = rng.standard_t(3, size=(days, 3)) / np.sqrt(3.0)  # unit variance
    common = t3[:, 0]
    crash_at = int(days * 0.65)
    out = {}
    for k, (u, (spot, vol, beta)) in enumerate(SPECS.items()):
        daily = vol / np.sqrt(365.0)
        r = daily * (np.sqrt(0.8) * common + np.sqrt(0.2) * t3[:, k + 1])
        r[0] = 0.0
        for j, move in enumerate(CRASH):
            if crash_at + j < days:
                r[crash_at + j] = np.log1p(beta * move)
        closes = spot * np.exp(np.cumsum(r) - np.sum(r))  # ends at the demo's spot
        atm = np.empty(days)
        atm[0] = vol
        shock = rng.normal(0.0, 0.012, days)
        for j in range(1, days):
            crash = 0.06 if crash_at <= j < crash_at + len(CRASH) else 0.0
            atm[j] = atm[j - 1] + 0.10 * (vol - atm[j - 1]) - 1.5 * r[j] + shock[j] + crash
        out[u] = (closes, np.clip(atm, 0.15, 2.5))
    btc = out["BTC"][0]  # WBTC: BTC with a few basis points of wrapper noise, no options
    out["WBTC"] = (btc * (1.0 + rng.normal(0.0, 0.0005, days)), np.empty(0))
    return out


def history_lines(days: int = DEFAULT_DAYS, seed: int = 7) -> list[bytes]:
    first = START - timedelta(days=days)
    lines = []
    for u, (closes, atm) in daily_paths(days, seed).items():
        for j in range(days):
            day = first + timedelta(days=j)
            close = round(float(closes[j]), 2)
            at = day + timedelta(hours=23)
            lines.append((at, {"type": "index", "event_id": f"hist-idx-{u}-{day:%Y%m%d}",
                               "underlying": u, "price": close}))
            if not atm.size:
                continue
            expiry = day + timedelta(days=30, hours=8)
            iid = f"{u}-H{day:%y%m%d}-ATM-C"
            strike = round(close, -1 if u == "ETH" else -2)
            lines.append((day + timedelta(hours=22, minutes=59), {
                "type": "instrument", "event_id": f"hist-def-{iid}", "instrument_id": iid,
                "kind": "option", "underlying": u, "settlement": "inverse",
                "contract_size": 1.0, "expiry": _ts(expiry), "strike": strike,
                "option_type": "call"}))
            lines.append((at, {"type": "quote", "event_id": f"hist-q-{iid}",
                               "instrument_id": iid, "underlying_price": close,
                               "mark_iv": round(float(atm[j]), 4)}))
    lines.sort(key=lambda x: x[0])
    return [orjson.dumps({**body, "ts": _ts(at)}) for at, body in
            ((a, dict(b)) for a, b in lines)]


def write_history(path: str | Path, days: int = DEFAULT_DAYS, seed: int = 7) -> int:
    """Write the history as JSONL (events in time order); returns the number of lines."""
    data = history_lines(days, seed)
    make_parent(Path(path))
    write_whole(path, b"\n".join(data) + b"\n")
    return len(data)
