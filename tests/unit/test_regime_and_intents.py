"""Volatility regimes (EWMA by hand, hysteresis, scaled limits) and the hedge intent
lifecycle (prices, one status per intent, what-if = a copy of the engine)."""

from __future__ import annotations

import itertools
import math

import orjson
import pytest

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import Breach, HedgeIntent, IntentStatus, Regime, encode
from greekstream.core.regime import VolState, classify, next_regime, update
from greekstream.core.whatif import HypotheticalTrade, WhatIfError, what_if
from tests.unit import builders as b
from tests.unit.test_engine import CALL, base_engine, of, run

YEAR = 365 * 86400


def test_ewma_matches_a_hand_computation_with_irregular_intervals() -> None:
    half_life_h = 2.0
    lam = math.log(2) / (half_life_h * 3600)
    ticks = [(0, 100.0), (60, 101.0), (660, 99.5), (690, 99.7), (4290, 102.0), (4295, 102.0)]
    state = VolState(ticks[0][1], 0)
    for t, p in ticks[1:]:
        update(state, p, t * 1_000_000, half_life_h)
    # by hand: every return weighted by its own interval, decayed from its own time
    t_end = ticks[-1][0]
    num = den = 0.0
    for (t0, p0), (t1, p1) in itertools.pairwise(ticks):
        w = math.exp(-lam * (t_end - t1))
        num += w * math.log(p1 / p0) ** 2
        den += w * (t1 - t0)
    assert state.realized_vol() == pytest.approx(math.sqrt(num / den * YEAR), rel=1e-12)
    # a return over ten times the interval counts ten times as much time
    lone = VolState(100.0, 0)
    update(lone, 101.0, 600 * 1_000_000, 1e9)
    assert lone.realized_vol() == pytest.approx(math.log(1.01) * math.sqrt(YEAR / 600), rel=1e-9)


@pytest.mark.parametrize(("vol", "current", "expected"), [
    (0.30, None, "calm"), (0.50, None, "normal"), (0.85, None, "stressed"),
    (0.43, "calm", "calm"), (0.45, "calm", "normal"), (0.89, "calm", "stressed"),
    (0.37, "normal", "normal"), (0.35, "normal", "calm"), (0.87, "normal", "normal"),
    (0.89, "normal", "stressed"), (0.73, "stressed", "stressed"), (0.71, "stressed", "normal"),
    (0.30, "stressed", "calm"),
])
def test_regime_bounds_with_ten_percent_hysteresis(vol: float, current: str | None,
                                                  expected: str) -> None:
    assert classify(vol, current, (0.40, 0.80)) == expected  # type: ignore[arg-type]


def test_a_vol_hovering_at_a_bound_does_not_flap() -> None:
    state = VolState(100.0, 0, regime="normal")
    changes = []
    for vol in [0.39, 0.41, 0.38, 0.42, 0.37, 0.43, 0.39, 0.41] * 5:
        state.sq_returns, state.seconds = vol * vol / YEAR, 1.0
        new = next_regime(state, (0.40, 0.80))
        if new != state.regime:
            changes.append(new)
            state.regime = new
    assert changes == []
    state.sq_returns = 0.35 * 0.35 / YEAR
    assert next_regime(state, (0.40, 0.80)) == "calm"


def _index_path(engine: Engine, start_s: int, prices: list[float], step_s: int) -> list:
    out = []
    for i, price in enumerate(prices):
        out += run(engine, b.index(f"ix{start_s}-{i}", start_s + i * step_s, price))
    return out


def _regime_day() -> tuple[Engine, list]:
    """An hour of calm index moves, then a spike (big alternate moves), then calm again."""
    engine = base_engine(EngineConfig(regime_half_life_h=0.5))
    out = run(engine, b.trade("t1", 4, CALL, "buy", 10), b.limits(
        "l1", 5, max_abs_delta=8.0, regime_scale={"calm": 1.0, "normal": 0.8,
                                                   "stressed": 0.5}))
    calm = [61000 * (1 + 0.0002 * (-1) ** i) for i in range(60)]
    spike = [61000 * (1 + (0.0002 + 0.00003 * i) * (-1) ** i) for i in range(60)]
    out += _index_path(engine, 10, calm, 60)
    out += _index_path(engine, 10 + 3600, spike, 60)
    out += _index_path(engine, 10 + 7200, calm * 6, 60)
    return engine, out


def test_a_vol_spike_moves_through_the_regimes_and_scales_the_limits() -> None:
    engine, out = _regime_day()
    regimes = of(Regime, out)
    assert [r.regime for r in regimes] == ["calm", "normal", "stressed", "normal", "calm"]
    assert [r.previous for r in regimes] == [None, "calm", "normal", "stressed", "normal"]
    assert all(r.implied_vol == 0.62 and r.implied_instrument == CALL for r in regimes)
    delta = engine.exposure_values(engine.books[("desk-a", "BTC")], engine.clock or 0).delta
    assert 4.0 < abs(delta) < 6.4  # inside 8 and 8·0.8, outside 8·0.5
    breaches = [(x.state, x.limit) for x in of(Breach, out) if x.metric == "delta"]
    assert breaches == [("open", 4.0), ("cleared", 6.4)]
    opened = next(x for x in of(Breach, out) if x.state == "open")
    stressed = next(r for r in regimes if r.regime == "stressed")
    assert opened.caused_by == stressed.caused_by  # re-checked when the regime changed


def test_regimes_survive_snapshot_and_restore_byte_exact() -> None:
    engine, _ = _regime_day()
    copy = Engine(engine.config)
    copy.restore(engine.snapshot())
    assert copy.snapshot() == engine.snapshot()
    more = [b.index(f"late{i}", 20000 + 60 * i, 61000 * (1 + 0.03 * (-1) ** i))
            for i in range(40)]
    assert [encode(o) for o in run(engine, *more)] == [encode(o) for o in run(copy, *more)]


# ----------------------------------------------------------------------------- intents

HEDGE = {"hedge_instrument": "BTC-PERPETUAL", "hedge_band": 1.0}


def test_intent_prices_from_the_spread_and_from_the_mark() -> None:
    engine = base_engine()
    run(engine, b.rec("quote", "m1", 3, instrument_id="BTC-PERPETUAL", mark_price=61010,
                      bid=61000.0, ask=61020.0))
    out = run(engine, b.limits("l1", 4, **HEDGE), b.trade("t1", 5, CALL, "buy", 10))
    (intent,) = of(HedgeIntent, out)
    assert intent.reference_price == 61010.0
    assert intent.side == "sell"
    assert intent.limit_price == pytest.approx(61010.0 * (1 - 10e-4))
    coins = intent.quantity * 10.0 / 61010.0  # inverse perpetual: USD 10 face per contract
    assert intent.est_cost_usd == pytest.approx(10.0 * coins)
    assert intent.expires_at == intent.ts + 30_000_000
    fields = orjson.loads(encode(intent))
    assert fields["expires_at"] == "2026-03-01T00:00:35Z"
    # no bid/ask: the mark, and the slippage as the cost
    engine = base_engine()
    out = run(engine, b.limits("l1", 4, hedge_slippage_bps=20, **HEDGE),
              b.trade("t1", 5, CALL, "buy", 10))
    (intent,) = of(HedgeIntent, out)
    assert intent.reference_price == 61010.0
    assert intent.limit_price == pytest.approx(61010.0 * (1 - 20e-4))
    assert intent.est_cost_usd == pytest.approx(61010.0 * 20e-4 * intent.quantity * 10 / 61010)



def test_a_slippage_of_100_percent_or_more_is_refused_at_the_door() -> None:
    """reference × (1 − slippage) is a sell intent's limit price: at 10,000 bps or more it
    was zero or negative, an intent no venue takes. Such limits are now an invalid_event
    naming the field, and change nothing; just under it the sell limit stays positive."""
    from greekstream.core.events import Rejected

    engine = base_engine()
    out = run(engine, b.limits("l1", 4, hedge_slippage_bps=10_000, **HEDGE),
              b.trade("t1", 5, CALL, "buy", 10))
    (rejected,) = of(Rejected, out)
    assert rejected.reason == "invalid_event" and "hedge_slippage_bps" in rejected.detail
    assert of(HedgeIntent, out) == []  # no limits in force: nothing to hedge
    engine = base_engine()
    out = run(engine, b.limits("l1", 4, hedge_slippage_bps=9_999, **HEDGE),
              b.trade("t1", 5, CALL, "buy", 10))
    (intent,) = of(HedgeIntent, out)
    assert intent.side == "sell" and intent.limit_price == pytest.approx(61010.0 * 1e-4)

def _statuses(out: list) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for s in of(IntentStatus, out):
        found.setdefault(s.intent_id, []).append(s.state)
    return found


def test_every_intent_closes_exactly_once_filled_expired_superseded() -> None:
    engine = base_engine()
    out = run(engine, b.limits("l1", 4, **HEDGE), b.trade("t1", 5, CALL, "buy", 10))
    (first,) = of(HedgeIntent, out)
    # filled: a trade of the book on the hedge instrument
    out = run(engine, b.trade("h1", 6, "BTC-PERPETUAL", first.side, first.quantity))
    assert _statuses(out) == {first.intent_id: ["filled"]}
    (filled,) = of(IntentStatus, out)
    assert filled.caused_by == "h1" and filled.ts == b_ts(6)
    # expired: at expires_at in event time, reported by the next record (a quote here)
    out = run(engine, b.trade("t2", 7, CALL, "buy", 10))
    (second,) = of(HedgeIntent, out)
    out = run(engine, b.quote_opt("q9", 60, CALL, 61200, 0.62))
    (expired,) = of(IntentStatus, out)
    assert (expired.intent_id, expired.state) == (second.intent_id, "expired")
    assert expired.ts == second.expires_at and expired.caused_by == "q9"
    assert out.index(expired) == 0  # before what the record itself causes
    (third,) = of(HedgeIntent, out)  # the quote finds the book still out of band
    # superseded: the policy changes while an intent is pending
    out = run(engine, b.limits("l2", 62, hedge_instrument="BTC-PERPETUAL", hedge_band=0.5))
    assert _statuses(out)[third.intent_id] == ["superseded"]
    # a limits event that keeps the policy does not close it
    fourth = of(HedgeIntent, out)[-1]
    out = run(engine, b.limits("l3", 63, hedge_instrument="BTC-PERPETUAL", hedge_band=0.5,
                               max_abs_vega=1e9))
    assert of(IntentStatus, out) == []
    assert engine.books[("desk-a", "BTC")].pending.intent_id == fourth.intent_id


def b_ts(seconds: float) -> int:
    from greekstream.core.timeutil import parse_ts

    return parse_ts(b.ts(seconds))


def test_a_rejected_record_does_not_expire_an_intent() -> None:
    engine = base_engine()
    run(engine, b.limits("l1", 4, **HEDGE), b.trade("t1", 5, CALL, "buy", 10))
    before = engine.snapshot()
    out = run(engine, b.trade("bad", 90, "NO-SUCH", "buy", 1))
    assert [o.type for o in out] == ["rejected"]
    assert b.unchanged_but_rejection_chain(before, engine.snapshot(), out)


def test_what_if_equals_applying_the_trades_to_a_copy_and_changes_nothing() -> None:
    engine = base_engine()
    run(engine, b.limits("l1", 4, max_abs_delta=5.0, **HEDGE), b.trade("t1", 5, CALL, "buy", 2))
    before = engine.snapshot()
    trades = [HypotheticalTrade(CALL, "buy", 10), HypotheticalTrade("BTC-PERPETUAL", "sell", 3)]
    preview = what_if(engine, "desk-a", trades)
    assert engine.snapshot() == before
    copy = Engine(engine.config)
    copy.restore(engine.snapshot())
    key = ("desk-a", "BTC")
    was = copy.exposure_values(copy.books[key], copy.clock or 0)
    caused = run(copy, b.trade("w1", 5, CALL, "buy", 10, price=1),
                 b.trade("w2", 5, "BTC-PERPETUAL", "sell", 3, price=61010))
    now = copy.exposure_values(copy.books[key], copy.clock or 0)
    (row,) = preview["underlyings"]
    for greek in ("delta", "gamma", "vega", "theta", "delta_usd"):
        assert row["after"][greek] == getattr(now, greek)
        assert row["change"][greek] == getattr(now, greek) - getattr(was, greek)
    risk = copy.book_risk(copy.books[key], copy.clock or 0)
    assert row["worst_loss_usd"] == risk.matrix.worst_loss
    opened = [(x.metric, x.limit) for x in of(Breach, caused) if x.state == "open"]
    assert [(x["metric"], x["limit"]) for x in preview["breaches_opened"]] == opened == [
        ("delta", 5.0)]
    with pytest.raises(WhatIfError, match="unknown instrument"):
        what_if(engine, "desk-a", [HypotheticalTrade("NO-SUCH", "buy", 1)])
    assert engine.snapshot() == before
