"""The oracle guard's rules (core/oracle.py): trust, jumps held until confirmed, stale,
divergence, breaches that open and clear once, snapshots."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greekstream.core.oracle import OracleConfig, OracleState
from greekstream.settings import EngineSettings

pytestmark = pytest.mark.timeout(30)
S = 1_000_000  # µs per second
CFG = OracleConfig(tolerance=0.01, max_age_s=300.0, max_jump=0.10)


def guard() -> OracleState:
    return OracleState(CFG)


def test_config_from_engine_settings() -> None:
    cfg = OracleConfig.of(EngineSettings(oracle_tolerance=0.02, oracle_max_age_s=60,
                                         oracle_max_jump=0.2))
    assert (cfg.tolerance, cfg.max_age_us, cfg.max_jump) == (0.02, 60 * S, 0.2)


def test_first_price_and_moves_within_the_jump_are_trusted() -> None:
    g = guard()
    assert g.observe("ETH", None, 2000.0, 0).trusted
    step = g.observe("ETH", None, 2199.0, 1 * S)  # +9.95% <= 10%
    assert step.trusted and step.price == 2199.0
    assert g.trusted["ETH"].price == 2199.0


def test_a_jump_is_held_until_a_second_source_confirms_it() -> None:
    g = guard()
    g.observe("ETH", "chainlink", 2000.0, 0)
    g.observe("ETH", "pyth", 2001.0, 0)
    held = g.observe("ETH", "chainlink", 1500.0, 10 * S)  # −25%: not trusted
    assert not held.trusted and held.price == 2001.0  # pyth's, the latest trusted
    assert g.trusted["ETH"].price == 2001.0
    again = g.observe("ETH", "chainlink", 1499.0, 11 * S)  # the same source is no witness
    assert not again.trusted and g.trusted["ETH"].price == 2001.0
    far = g.observe("ETH", "pyth", 1700.0, 12 * S)  # −15% and 13% away from chainlink
    assert not far.trusted
    confirmed = g.observe("ETH", "pyth", 1505.0, 13 * S)  # within 1% of chainlink's 1499
    assert confirmed.trusted and confirmed.confirmed_by == "chainlink"
    assert g.trusted["ETH"].price == 1505.0


def test_a_stale_witness_does_not_confirm() -> None:
    g = guard()
    g.observe("ETH", "a", 2000.0, 0)
    g.observe("ETH", "b", 1500.0, 0)  # held; b's 1500 is the witness-to-be
    late = g.observe("ETH", "a", 1500.0, 301 * S)  # b's observation is 301 s old
    assert not late.trusted
    fresh = g.observe("ETH", "b", 1502.0, 302 * S)  # now a (1 s old) confirms
    assert fresh.trusted and fresh.confirmed_by == "a"


def test_stale_by_event_time_age() -> None:
    g = guard()
    g.observe("BTC", None, 60_000.0, 0)
    assert not g.status("BTC", 300 * S).stale  # exactly max age: not older than it
    status = g.status("BTC", 300 * S + 1)
    assert status.stale and status.age_s == pytest.approx(300.000001)
    g.observe("BTC", None, 60_100.0, 400 * S)
    assert not g.status("BTC", 401 * S).stale
    assert g.status("SOL", 0) == g.status("SOL", 10**12)  # never observed: not flagged
    assert not g.status("SOL", 0).flagged


def test_a_held_jump_keeps_the_trusted_price_aging() -> None:
    g = guard()
    g.observe("BTC", "pyth", 60_000.0, 0)
    for k in range(1, 10):  # one source, jumped: never trusted, so the valuation goes stale
        g.observe("BTC", "pyth", 40_000.0, k * 60 * S)
    assert g.trusted["BTC"].price == 60_000.0
    assert g.status("BTC", 540 * S).stale


def test_an_index_without_source_is_spec_s_latest_index() -> None:
    # SPEC.md: delta_usd uses the latest index; the jump guard is for sourced feeds only
    g = guard()
    g.observe("BTC", None, 60_000.0, 0)
    step = g.observe("BTC", None, 40_000.0, 60 * S)  # −33% in one event
    assert step.trusted and g.trusted["BTC"].price == 40_000.0
    assert not g.status("BTC", 60 * S).flagged
    held = g.observe("BTC", "pyth", 20_000.0, 61 * S)  # a sourced feed's jump is still held
    assert not held.trusted and g.trusted["BTC"].price == 40_000.0


def test_divergence_between_fresh_sources_only() -> None:
    g = guard()
    g.observe("ETH", "a", 2000.0, 0)
    g.observe("ETH", "b", 2015.0, 0)  # 0.75%
    assert not g.status("ETH", 0).divergence
    g.observe("ETH", "b", 2030.0, 1 * S)  # 1.5% > 1%
    status = g.status("ETH", 1 * S)
    assert status.divergence and status.spread == pytest.approx(30 / 2000)
    g.observe("ETH", "b", 2031.0, 400 * S)  # a's 2000 is now 400 s old: not compared
    assert not g.status("ETH", 400 * S).divergence


def test_breach_opens_once_and_clears_once() -> None:
    g = guard()
    g.observe("ETH", "a", 2000.0, 0)
    seen = []
    for t, src, price in [(1, "b", 2001.0), (2, "b", 2100.0), (3, "b", 2101.0), (4, "a", 2099.0),
                          (5, "b", 2098.0), (6, "a", 1900.0), (7, "b", 1901.0)]:
        g.observe("ETH", src, price, t * S)
        seen.append(g.transition("desk-a/ETH", g.status("ETH", t * S).flagged))
    assert seen == [None, "open", None, "cleared", None, "open", "cleared"]
    assert g.transition("desk-a/ETH", False) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.floats(0.5, 2.0),
                          st.integers(0, 600)), max_size=30))
def test_snapshot_round_trip_is_plain_json_and_same_behaviour(
    steps: list[tuple[str | None, float, int]]
) -> None:
    g = guard()
    t = 0
    for src, factor, dt in steps:
        t += dt * S
        g.observe("ETH", src, 2000.0 * factor, t)
        g.transition("k", g.status("ETH", t).flagged)
    blob = json.dumps(g.to_dict(), sort_keys=True)
    back = OracleState.from_dict(json.loads(blob), CFG)
    assert back == g
    assert json.dumps(back.to_dict(), sort_keys=True) == blob
    later = t + 10 * S
    assert back.observe("ETH", "a", 2100.0, later) == g.observe("ETH", "a", 2100.0, later)
    assert back.status("ETH", later) == g.status("ETH", later)
