"""An independent reference for `greekstream var`: historical VaR and ES per book.

Written from ../shared/SPEC.md (*Scenario risk*, *On-chain positions*, *Historical VaR
and expected shortfall*) on top of the reference replay in ``model.py``; none of the
engine's modules are imported. Plain loops over days and positions, QuantLib's
``BlackCalculator`` for Black-76, the CSV read with the ``csv`` module.

Decisions where SPEC.md is silent (the engine's, docs/var.md, mirrored here):

- **Books**: every book with a trade, a collateral event, a loan or an LP position in an
  asset that is a known underlying (an instrument's or an index's), sorted.
- **Left out**: expired options and futures, options never quoted, futures and
  perpetuals without a mark; collateral, loans and LPs when their asset has no index
  (USD is 1).
- **Stablecoins** USD, USDC, USDT, DAI are never shocked; any other held underlying
  missing from the returns file is an error.
- **Time** does not move (h = 0); vol is floored at 0.01 after the shock.
- **k** = ceil((1 − c)·N) in exact decimals (so 0.99 of 100 days is a tail of 1).
"""

from __future__ import annotations

import csv
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import QuantLib as ql

from tests.reference.model import SECONDS_PER_YEAR, replay

STABLE = {"USD", "USDC", "USDT", "DAI"}


def read_returns(path: Path) -> tuple[list[str], dict[str, list[float]], dict[str, list[float]]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = list(rows[0])
    dates = [r["date"] for r in rows]
    rets = {u: [float(r[u]) for r in rows] for u in names[1:] if not u.endswith("_vol")}
    vols = {u[:-4]: [float(r[u]) for r in rows] for u in names[1:] if u.endswith("_vol")}
    return dates, rets, vols


def _black(fwd: float, strike: float, vol: float, years: float, call: bool) -> float:
    kind = ql.Option.Call if call else ql.Option.Put
    calc = ql.BlackCalculator(ql.PlainVanillaPayoff(kind, strike), fwd, vol * math.sqrt(years),
                              1.0)
    return float(calc.value())


def _lp_value(lp: dict[str, Any], price: float) -> float:
    lo, hi, big_l = lp["price_lower"], lp["price_upper"], lp["liquidity"]
    p = min(max(price, lo), hi)
    x = big_l * (1 / math.sqrt(p) - 1 / math.sqrt(hi))
    y = big_l * (math.sqrt(p) - math.sqrt(lo))
    return x * price + y


class _Day:
    """One scenario: the shocked price move and vol change of every asset."""

    def __init__(self, rets: dict[str, float], vols: dict[str, float]) -> None:
        self.rets, self.vols = rets, vols

    def move(self, asset: str) -> float:
        if asset in STABLE:
            return 0.0
        if asset not in self.rets:
            raise KeyError(f"no returns for {asset}")
        return math.exp(self.rets[asset]) - 1.0

    def vol(self, asset: str) -> float:
        return 0.0 if asset in STABLE else self.vols.get(asset, 0.0)


def _book_pnl(state: Any, book: str, at: int, day: _Day, known: set[str]) -> float:
    total = 0.0
    for (b, iid), n in state.contracts.items():
        if b != book or abs(n) < 1e-9:
            continue
        inst, quote = state.instruments[iid], state.quotes.get(iid)
        u = inst["underlying"]
        expiry = inst.get("expiry")
        if inst["kind"] in ("option", "future") and expiry <= at:
            continue
        if quote is None:
            continue
        p = day.move(u)
        if inst["kind"] == "option":
            years = (expiry - at) / 1e6 / SECONDS_PER_YEAR
            f, vol, k = quote["underlying_price"], quote["mark_iv"], inst["strike"]
            call = inst["option_type"] == "call"
            shocked = _black(f * (1 + p), k, max(vol + day.vol(u), 0.01), years, call)
            total += n * inst["contract_size"] * (shocked - _black(f, k, vol, years, call))
        elif inst["settlement"] == "linear":
            mark = quote["mark_price"]
            total += n * inst["contract_size"] * (mark * (1 + p) - mark)
        else:
            mark = quote["mark_price"]
            new = mark * (1 + p)
            total += n * inst["contract_size"] * (1 / mark - 1 / new) * new
    for c in state.collateral:
        asset = c["asset"]
        if c["book"] == book and asset in known and asset in state.index:
            spot = state.index[asset]
            total += c["amount"] * (spot * (1 + day.move(asset)) - spot)
    for pos in state.positions.values():
        if pos["book"] != book:
            continue
        if pos["type"] == "loan" and pos["debt_amount"] > 0:
            for asset, amount in ((pos["collateral_asset"], pos["collateral_amount"]),
                                  (pos["debt_asset"], -pos["debt_amount"])):
                price = 1.0 if asset == "USD" else state.index[asset]
                total += amount * price * day.move(asset)
        elif pos["type"] == "lp_position" and pos["liquidity"] > 0:
            spot = state.index[pos["base"]]
            total += _lp_value(pos, spot * (1 + day.move(pos["base"]))) - _lp_value(pos, spot)
    return total


def _books(state: Any) -> list[str]:
    known = {i["underlying"] for i in state.instruments.values()} | set(state.index)
    books = {b for (b, _iid) in state.contracts}
    books |= {c["book"] for c in state.collateral if c["asset"] in known}
    for pos in state.positions.values():
        assets = ([pos["collateral_asset"], pos["debt_asset"]] if pos["type"] == "loan"
                  else [pos["base"]])
        if any(a in known for a in assets):
            books.add(pos["book"])
    return sorted(books)


def var_reference(events: Path, returns: Path, as_of: int | None = None,
                  confidence: float = 0.99) -> list[dict[str, Any]]:
    """``[{book, as_of_us, confidence, scenarios, var, es, worst_date}]`` from scratch."""
    done = replay(events, as_of)
    state, at = done.state, done.as_of
    known = {i["underlying"] for i in state.instruments.values()} | set(state.index)
    dates, rets, vols = read_returns(returns)
    n = len(dates)
    k = math.ceil((1 - Decimal(repr(confidence))) * n)
    out = []
    for book in _books(state):
        pnls = []
        for j in range(n):
            day = _Day({u: r[j] for u, r in rets.items()}, {u: v[j] for u, v in vols.items()})
            pnls.append(_book_pnl(state, book, at, day, known))
        order = sorted(range(n), key=lambda j: (pnls[j], j))
        tail = [pnls[j] for j in order[:k]]
        out.append({"book": book, "as_of_us": at, "confidence": confidence, "scenarios": n,
                    "var": -tail[-1], "es": -sum(tail) / k, "worst_date": dates[order[0]]})
    return out
