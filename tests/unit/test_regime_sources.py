"""Realized vol with several index sources for one underlying (core/regime.py,
docs/regimes.md "Sources"): each return is against the same source's previous accepted
price, so the basis between sources is never a return; one source is the single-series
estimator, bit for bit; the per-source state survives a snapshot (and an older snapshot
without it still restores)."""

from __future__ import annotations

import math
import random

import orjson
import pytest

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import Regime, encode
from greekstream.core.regime import VolState
from tests.unit import builders as b
from tests.unit.test_engine import of, run

YEAR = 365 * 86400


def sourced(eid: str, at: float, price: float, source: str | None) -> bytes:
    extra = {} if source is None else {"source": source}
    return b.rec("index", eid, at, underlying="BTC", price=price, **extra)


def two_source_flat(hours: float = 2.0, basis_bp: float = 5.0) -> list[bytes]:
    """A flat market: sources A and B, `basis_bp` apart, each publishing once a second,
    alternating (A on the second, B half a second later)."""
    out = []
    for i in range(int(hours * 3600)):
        out.append(sourced(f"a{i}", 10 + i, 61000.0, "A"))
        out.append(sourced(f"b{i}", 10 + i + 0.5, 61000.0 * (1 + basis_bp * 1e-4), "B"))
    return out


def test_two_sources_a_few_bp_apart_in_a_flat_market_have_no_realized_vol() -> None:
    """Before: the price in force flipped between the sources and their 5 bp basis counted
    as a return every half second, ~397% vol and the regime `stressed` (limits and the
    hedge band halved by regime_scale). Now: zero vol, the regime set once (`calm`)."""
    engine = Engine(EngineConfig())
    out = run(engine, *two_source_flat())
    state = engine.regimes["BTC"]
    vol = state.realized_vol()
    assert vol is not None and vol < 1e-9
    assert [(r.regime, r.previous) for r in of(Regime, out)] == [("calm", None)]
    assert state.regime == "calm"


def test_two_sources_with_a_basis_measure_the_vol_of_the_path() -> None:
    """A random walk at 50% vol seen by two sources 5 bp apart: the estimate is the walk's
    vol (each source's own returns), not the basis."""
    rng = random.Random(7)
    sigma, step = 0.50, 0.5
    price, recs = 61000.0, []
    for i in range(4 * 3600 * 2):
        price *= math.exp(sigma * math.sqrt(step / YEAR) * rng.gauss(0.0, 1.0))
        src, basis = ("A", 1.0) if i % 2 == 0 else ("B", 1.0005)
        recs.append(sourced(f"p{i}", 10 + i * step, price * basis, src))
    engine = Engine(EngineConfig())
    run(engine, *recs)
    vol = engine.regimes["BTC"].realized_vol()
    assert vol == pytest.approx(sigma, rel=0.05)


def old_estimator(path: list[tuple[int, float]], half_life_h: float) -> tuple[float, float]:
    """The single-series estimator before sources (the price in force at each index)."""
    (t0, p0), s, t = path[0], 0.0, 0.0
    for ts, p in path[1:]:
        dt = (ts - t0) / 1_000_000
        decay = math.exp(-math.log(2.0) * dt / (half_life_h * 3_600.0))
        r = math.log(p / p0)
        s, t = s * decay + r * r, t * decay + dt
        t0, p0 = ts, p
    return s, t


@pytest.mark.parametrize("source", [None, "deribit"])
def test_one_source_is_the_single_series_estimator_bit_for_bit(source: str | None) -> None:
    """One source, held jumps included (a sourced jump beyond oracle_max_jump is held: the
    price in force stays, a zero return): the sums are the old estimator's, exactly."""
    rng = random.Random(3)
    engine = Engine(EngineConfig(regime_half_life_h=0.7))
    price, in_force, path, recs, at = 61000.0, None, [], [], 10.0
    for i in range(3000):
        price *= math.exp(rng.gauss(0.0, 0.002))
        seen = price * (1.3 if rng.random() < 0.02 else 1.0)  # now and then a bad print
        at += rng.choice([0.25, 1.0, 7.0])
        recs.append(sourced(f"s{i}", at, seen, source))
        if source is None or in_force is None or abs(seen - in_force) <= 0.10 * in_force:
            in_force = seen
        path.append((b.parse(b.ts(at)), in_force))
    run(engine, *recs)
    state = engine.regimes["BTC"]
    assert (state.sq_returns, state.seconds) == old_estimator(path, 0.7)


def test_restore_equals_straight_run_with_two_sources() -> None:
    rng = random.Random(11)
    recs = []
    price = 61000.0
    for i in range(3 * 3600):
        price *= math.exp(rng.gauss(0.0, 0.0004))
        src, basis = [("A", 1.0), ("B", 1.0004), ("C", 0.9997)][rng.randrange(3)]
        recs.append(sourced(f"r{i}", 10 + i, price * basis, src))
    straight = Engine(EngineConfig(regime_half_life_h=0.5))
    expected = [encode(o) for o in run(straight, *recs)]
    for cut in (1, 700, 5000, len(recs) - 1):
        first = Engine(EngineConfig(regime_half_life_h=0.5))
        got = [encode(o) for o in run(first, *recs[:cut])]
        second = Engine(first.config)
        second.restore(first.snapshot())
        assert second.snapshot() == first.snapshot()
        got += [encode(o) for o in run(second, *recs[cut:])]
        assert got == expected, cut
        assert second.snapshot() == straight.snapshot()
    assert any(o for o in expected if b'"regime"' in o)


def _as_old_snapshot(blob: bytes) -> bytes:
    """A snapshot as the code before per-source state wrote it: regimes rows of six."""
    doc = orjson.loads(blob)
    doc["market"]["regimes"] = {u: row[:6] for u, row in doc["market"]["regimes"].items()}
    return orjson.dumps(doc)


def test_a_snapshot_without_sources_restores_one_source_goes_on_as_before() -> None:
    rng = random.Random(5)
    price, recs = 61000.0, []
    for i in range(2 * 3600):
        price *= math.exp(rng.gauss(0.0, 0.0005))
        recs.append(sourced(f"o{i}", 10 + i, price, "deribit"))
    straight = Engine(EngineConfig(regime_half_life_h=0.5))
    expected = [encode(o) for o in run(straight, *recs)]
    first = Engine(EngineConfig(regime_half_life_h=0.5))
    got = [encode(o) for o in run(first, *recs[:4000])]
    old = _as_old_snapshot(first.snapshot())
    assert len(orjson.loads(old)["market"]["regimes"]["BTC"]) == 6
    second = Engine(first.config)
    second.restore(old)
    got += [encode(o) for o in run(second, *recs[4000:])]
    assert got == expected
    assert second.snapshot() == straight.snapshot()


def test_a_snapshot_without_sources_restores_two_sources_start_afresh() -> None:
    recs = two_source_flat(hours=2.0)
    first = Engine(EngineConfig())
    run(first, *recs[:3000])
    state = VolState.from_list(orjson.loads(_as_old_snapshot(first.snapshot()))
                               ["market"]["regimes"]["BTC"], ["A", "B"])
    assert state.sources == {}
    second = Engine(first.config)
    second.restore(_as_old_snapshot(first.snapshot()))
    out = run(second, *recs[3000:])
    vol = second.regimes["BTC"].realized_vol()
    assert vol is not None and vol < 1e-9
    assert [r.regime for r in of(Regime, out)] == ["calm"]


def test_a_held_price_is_not_a_return() -> None:
    """Source B prints 30% away (held by the oracle guard: beyond oracle_max_jump, no other
    source confirms it): B's series re-samples its last accepted price, no return."""
    engine = Engine(EngineConfig())
    run(engine, sourced("a0", 10, 61000.0, "A"), sourced("b0", 10.5, 61030.0, "B"))
    for i in range(1, 100):
        run(engine, sourced(f"a{i}", 10 + i, 61000.0, "A"),
            sourced(f"b{i}", 10.5 + i, 61030.0 * (1.3 if i % 10 == 0 else 1.0), "B"))
    state = engine.regimes["BTC"]
    assert state.sq_returns == 0.0 and state.seconds > 0
    assert state.sources is not None and state.sources["B"][0] == 61030.0
