"""Behaviour of the pure engine: dedup, rejections, breaches, hedge intents, reorgs,
revaluation, snapshots. Numbers against an independent reference live in tests/golden."""

from __future__ import annotations

import math

import orjson
import pytest

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import Breach, Exposure, HedgeIntent, Rejected, encode
from greekstream.core.greeks import black76_scalar
from greekstream.core.timeutil import parse_ts, year_fraction
from tests.unit import builders as b

CALL = "BTC-27MAR26-60000-C"


def base_engine(config: EngineConfig | None = None) -> Engine:
    engine = Engine(config)
    for i, raw in enumerate([
        b.option(CALL, 60000),
        b.perp(),
        b.index("x0", 1, 61000),
        b.quote_opt("q0", 2, CALL, 61200, 0.62),
        b.quote_mark("m0", 2, "BTC-PERPETUAL", 61010),
    ]):
        rejected = [o for o in engine.handle(raw, f"setup:{i}") if o.type == "rejected"]
        assert rejected == [], rejected
    return engine


def run(engine: Engine, *records: bytes) -> list:
    """Apply the records as one finite input: its end closes the emission window."""
    out = []
    for i, raw in enumerate(records):
        out.extend(engine.handle(raw, f"test:{i}"))
    return out + engine.flush()


def of(kind: type, outputs: list) -> list:
    return [o for o in outputs if isinstance(o, kind)]


def test_trade_exposure_is_inverse_net_transaction_delta() -> None:
    engine = base_engine()
    out = run(engine, b.trade("t1", 4, CALL, "buy", 10))
    (exp,) = of(Exposure, out)
    years = year_fraction(parse_ts(b.ts(2)), parse_ts(b.EXPIRY))
    g = black76_scalar(61200, 60000, years, 0.62, True)
    assert exp.delta == pytest.approx(10 * (g.delta - g.value / 61200), rel=1e-12)
    assert exp.gamma == pytest.approx(10 * g.gamma, rel=1e-12)
    assert exp.delta_usd == pytest.approx(exp.delta * 61000, rel=1e-12)
    assert exp.positions == 1 and exp.caused_by == "t1"


def test_duplicate_event_id_has_no_effect() -> None:
    """A duplicate changes no state but its count and, dated in a later emission window,
    the window's end: it is a record of the stream the gateway published and ticked by,
    so it closes the window it passes, as any record does (docs/streaming.md, *Emission
    windows across instances*); with nothing dirty it emits nothing."""
    engine = base_engine()
    run(engine, b.trade("t1", 4, CALL, "buy", 10))
    before = engine.snapshot()
    assert run(engine, b.trade("t1", 5, CALL, "buy", 10)) == []
    assert engine.duplicates == 1
    after = orjson.loads(engine.snapshot())
    before_doc = orjson.loads(before)
    assert after["market"].pop("window_end_us") == parse_ts("2026-03-01T00:00:05.100Z")
    before_doc["market"].pop("window_end_us")
    after["market"]["duplicates"] = 0
    before_doc["market"]["duplicates"] = 0
    assert after == before_doc


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'{"type": "nope", "event_id": "z", "ts": "2026-03-01T00:00:09Z"}', "unknown_type"),
        (b.trade("bad1", 9, CALL, "buy", -1), "invalid_event"),
        (b.trade("bad2", 9, CALL, "buy", 0), "invalid_event"),
        (b.trade("bad3", 9, "NO-SUCH", "buy", 1), "unknown_instrument"),
        (b.quote_opt("bad4", 9, CALL, 61000, 0.0), "invalid_event"),
        (b.rec("quote", "bad5", 9, instrument_id=CALL, mark_price=0.05), "missing_quote_field"),
        (b.rec("trade", "bad6", 9, book="desk-a", instrument_id=CALL, side="buy",
               quantity="1", price=1), "invalid_event"),
        (b'{"type":"index","event_id":"bad7","ts":"2026-03-01T00:00:09Z","underlying":"BTC",'
         b'"price":1e999}', "invalid_json"),
        (b.rec("index", "bad8", 9, underlying="BTC"), "invalid_event"),
        (b'{"type":"index","event_id":"bad9","ts":"yesterday","underlying":"BTC","price":1}',
         "invalid_event"),
        (b.limits("bad10", 9, hedge_instrument="NO-SUCH", hedge_band=1), "unknown_instrument"),
    ],
)
def test_bad_records_are_rejected_and_change_nothing(raw: bytes, reason: str) -> None:
    engine = base_engine()
    run(engine, b.trade("t1", 4, CALL, "buy", 10))
    before = engine.snapshot()
    out = engine.handle(raw, "file.jsonl:42")
    assert len(out) == 1 and isinstance(out[0], Rejected)
    rejected = out[0]
    assert rejected.reason == reason
    assert rejected.source == "file.jsonl:42"
    assert rejected.raw == raw.decode()
    assert rejected.detail
    assert b.unchanged_but_rejection_chain(before, engine.snapshot(), out)


def test_a_late_quote_does_not_replace_the_newer_one() -> None:
    """SPEC: an instrument's Greeks use its latest quote by event time. A quote older than
    the one in force is accepted (no rejection: it stays in history), counted, and moves
    nothing: same state, no outputs, and the next trade is valued on the newer quote."""
    engine = base_engine()
    run(engine, b.trade("t1", 4, CALL, "buy", 10), b.quote_opt("q-new", 6, CALL, 64000, 0.70))
    before = orjson.loads(engine.snapshot())
    assert run(engine, b.quote_opt("q-late", 5, CALL, 50000, 0.30),
               b.quote_mark("m-late", 1, "BTC-PERPETUAL", 40000)) == []
    assert engine.late_quotes == 2
    after = orjson.loads(engine.snapshot())
    assert after["market"].pop("late_quotes") == 2
    before["market"].pop("late_quotes")
    after["market"]["seen"] = before["market"]["seen"]  # the late ids are seen (dedup)
    assert after == before
    (exp,) = of(Exposure, run(engine, b.trade("t2", 7, CALL, "buy", 1)))
    years = year_fraction(parse_ts(b.ts(6)), parse_ts(b.EXPIRY))  # Greeks as of the quote
    g = black76_scalar(64000, 60000, years, 0.70, True)
    assert exp.gamma == pytest.approx(11 * g.gamma, rel=1e-12)
    restored = Engine()
    restored.restore(engine.snapshot())
    assert restored.late_quotes == 2
    # a quote at the same ts as the one in force still replaces it (arrival order)
    run(engine, b.quote_opt("q-same", 6, CALL, 65000, 0.70))
    assert engine.instruments[CALL].forward == 65000


def test_rejected_event_id_is_not_marked_seen() -> None:
    engine = base_engine()
    run(engine, b.trade("t9", 4, "NO-SUCH", "buy", 1))
    out = run(engine, b.trade("t9", 5, CALL, "buy", 1))
    assert of(Exposure, out)


def test_breach_opens_once_and_clears_once() -> None:
    engine = base_engine()
    out = run(
        engine,
        b.limits("l1", 3, max_abs_delta=5.0),
        b.trade("t1", 4, CALL, "buy", 10),   # delta ~5.04 > 5: open
        b.trade("t2", 5, CALL, "buy", 1),    # still open: nothing new
        b.trade("t3", 6, CALL, "sell", 3),   # ~4.0: cleared
        b.trade("t4", 7, CALL, "sell", 1),   # still clear
    )
    breaches = of(Breach, out)
    assert [(x.state, x.caused_by) for x in breaches] == [("open", "t1"), ("cleared", "t3")]
    assert breaches[0].breach_id == breaches[1].breach_id
    assert breaches[0].limit == 5.0 and breaches[0].value > 5.0


def test_theta_breach_is_a_lower_bound_and_limit_removal_clears() -> None:
    engine = base_engine()
    out = run(engine, b.limits("l1", 3, min_theta=-100.0), b.trade("t1", 4, CALL, "buy", 10))
    (opened,) = of(Breach, out)
    assert opened.metric == "theta" and opened.value < -100.0
    out = run(engine, b.limits("l2", 5))
    (cleared,) = of(Breach, out)
    assert cleared.state == "cleared" and cleared.breach_id == opened.breach_id


def test_hedge_intent_inverse_perp_contracts_and_pending() -> None:
    engine = base_engine()
    out = run(
        engine,
        b.limits("l1", 3, hedge_instrument="BTC-PERPETUAL", hedge_band=1.0),
        b.trade("t1", 4, CALL, "buy", 10),
    )
    (intent,) = of(HedgeIntent, out)
    (exp,) = of(Exposure, out)
    # inverse perpetual: contracts = coin gap × mark / contract_size, rounded to nearest
    expected = math.floor(exp.delta * 61010 / 10 + 0.5)
    assert intent.side == "sell" and intent.quantity == expected
    assert intent.delta_before == exp.delta
    assert intent.delta_after == pytest.approx(exp.delta - expected * 10 / 61010, rel=1e-12)
    # pending: a further move out of band emits nothing until a hedge trade or 30 s
    assert of(HedgeIntent, run(engine, b.trade("t2", 10, CALL, "buy", 5))) == []
    again = of(HedgeIntent, run(engine, b.trade("t3", 35, CALL, "buy", 1)))
    assert len(again) == 1 and again[0].intent_id != intent.intent_id


def test_hedge_trade_ends_pending_and_rounding_to_zero_emits_nothing() -> None:
    engine = base_engine()
    run(engine, b.limits("l1", 3, hedge_instrument="BTC-PERPETUAL", hedge_band=1.0),
        b.trade("t1", 4, CALL, "buy", 10))
    out = run(engine, b.trade("h1", 5, "BTC-PERPETUAL", "sell", 10000))  # partial fill
    intents = of(HedgeIntent, out)
    assert len(intents) == 1  # pending ended by the hedge trade, still out of band
    engine2 = base_engine()
    run(engine2, b.limits("l1", 3, hedge_instrument="BTC-PERPETUAL", hedge_band=0.0001,
                          hedge_target=0.0))
    # a delta gap worth less than half a contract rounds to 0 contracts: no intent
    out = run(engine2, b.trade("t1", 4, CALL, "buy", 0.0001))
    assert of(HedgeIntent, out) == []


def test_hedge_on_equity_basis_counts_collateral() -> None:
    engine = base_engine()
    out = run(
        engine,
        b.limits("l1", 3, hedge_instrument="BTC-PERPETUAL", hedge_band=0.5,
                 hedge_basis="equity", hedge_target=0.0),
        b.rec("collateral", "c1", 4, book="desk-a", asset="BTC", amount=2.0),
    )
    (intent,) = of(HedgeIntent, out)
    assert intent.basis == "equity" and intent.delta_before == 2.0
    assert intent.side == "sell" and intent.quantity == math.floor(2.0 * 61010 / 10 + 0.5)


def test_intent_ids_are_deterministic() -> None:
    records = [b.limits("l1", 3, hedge_instrument="BTC-PERPETUAL", hedge_band=1.0),
               b.trade("t1", 4, CALL, "buy", 10)]
    first = of(HedgeIntent, run(base_engine(), *records))
    second = of(HedgeIntent, run(base_engine(), *records))
    assert [encode(x) for x in first] == [encode(x) for x in second]


def test_reorg_retracts_collateral_and_forgets_its_id() -> None:
    engine = base_engine()
    out = run(
        engine,
        b.trade("t1", 4, CALL, "buy", 1),
        b.rec("collateral", "c1", 5, book="desk-a", asset="BTC", amount=2.0, chain="eth",
              block_number=100, tx_hash="0xa", log_index=0),
        b.rec("collateral", "c2", 6, book="desk-a", asset="BTC", amount=1.0, chain="eth",
              block_number=99),
        b.rec("reorg", "r1", 7, chain="eth", from_block=100),
    )
    exposures = of(Exposure, out)
    delta = exposures[0].delta
    assert [round(e.delta_equity - delta, 9) for e in exposures] == [0.0, 2.0, 3.0, 1.0]
    assert exposures[-1].caused_by == "r1"
    # the retracted event may be mined again and then counts again
    out = run(engine, b.rec("collateral", "c1", 8, book="desk-a", asset="BTC", amount=2.0,
                            chain="eth", block_number=101))
    assert of(Exposure, out)[0].delta_equity - delta == pytest.approx(3.0)


def test_periodic_revaluation_is_driven_by_market_event_time() -> None:
    engine = base_engine(EngineConfig(revaluation_interval_s=60))
    run(engine, b.trade("t1", 4, CALL, "buy", 10))
    theta0 = engine.books[("desk-a", "BTC")].totals.values()[3]
    # a trade after the boundary does not revalue (only market data does)
    run(engine, b.trade("t2", 3600, CALL, "buy", 0.000001))
    out = run(engine, b.index("x1", 3601, 61000))
    revalued = [e for e in of(Exposure, out) if e.theta != 0]
    assert revalued, "an index event past the boundary revalues every book"
    years = year_fraction(parse_ts(b.ts(3601)), parse_ts(b.EXPIRY))
    g = black76_scalar(61200, 60000, years, 0.62, True)
    assert revalued[-1].theta == pytest.approx(10.000001 * g.theta, rel=1e-9)
    assert revalued[-1].theta != pytest.approx(theta0 * 1.0000001, rel=1e-9)


def test_snapshot_restore_continues_byte_identically() -> None:
    tail = [
        b.trade("t2", 10, CALL, "sell", 3),
        b.quote_opt("q1", 70, CALL, 60500, 0.66),
        b.rec("collateral", "c1", 71, book="desk-a", asset="BTC", amount=2.0, chain="eth",
              block_number=100),
        b.rec("reorg", "r1", 72, chain="eth", from_block=100),
        b.trade("t3", 130, "BTC-PERPETUAL", "sell", 100),
        b.index("x2", 200, 60000),
    ]
    head = [b.limits("l1", 3, max_abs_delta=5, hedge_instrument="BTC-PERPETUAL",
                     hedge_band=1.0), b.trade("t1", 4, CALL, "buy", 10)]
    straight = base_engine()
    run(straight, *head)
    expected = [encode(o) for o in run(straight, *tail)]
    first = base_engine()
    run(first, *head)
    restored = Engine()
    restored.restore(first.snapshot())
    assert restored.snapshot() == first.snapshot()
    assert [encode(o) for o in run(restored, *tail)] == expected


def test_drop_books_then_restore_book_subset() -> None:
    engine = base_engine()
    run(engine, b.trade("t1", 4, CALL, "buy", 10), b.trade("t2", 4, CALL, "sell", 3, book="b2"))
    blob = engine.snapshot(lambda book: book == "b2", market=False)
    engine.drop_books(lambda book: book == "b2")
    assert [k for k in engine.books] == [("desk-a", "BTC")]
    engine.restore(blob)
    assert sorted(engine.books) == [("b2", "BTC"), ("desk-a", "BTC")]
    assert engine.books[("b2", "BTC")].positions == {CALL: -3.0}


# ----------------------------------------------------------------- breach hysteresis


def test_breach_hysteresis_default_holds_a_value_hovering_at_the_limit() -> None:
    """A delta hovering around its limit opens once, then stays open until it is back
    inside by 2 % (the default `breach_hysteresis`), and clears once."""
    engine = base_engine()
    (exp,) = of(Exposure, run(engine, b.trade("t1", 4, CALL, "buy", 10)))
    delta = exp.delta
    limit = delta * 0.999  # just under the position's delta: open
    out = run(engine, b.limits("l1", 5, max_abs_delta=limit))
    assert [x.state for x in of(Breach, out)] == ["open"]
    # the forward moves the delta a little either side of the limit: no flapping
    hovering = []
    for i, fwd in enumerate((61150, 61250, 61100, 61300, 61120, 61200, 61150)):
        hovering += run(engine, b.quote_opt(f"h{i}", 6 + i, CALL, fwd, 0.62))
    deltas = [x.delta for x in of(Exposure, hovering)]
    assert min(deltas) < limit < max(deltas)  # it does cross the limit both ways
    assert min(abs(d) for d in deltas) > limit * 0.98  # but never back inside by 2 %
    assert of(Breach, hovering) == []
    # inside by less than 2 %: still open; inside by more: cleared once
    assert of(Breach, run(engine, b.limits("l2", 20, max_abs_delta=delta * 1.015))) == []
    cleared = of(Breach, run(engine, b.limits("l3", 21, max_abs_delta=delta * 1.03)))
    assert [x.state for x in cleared] == ["cleared"]


def test_breach_hysteresis_zero_is_v1_and_minimum_limits_use_abs_limit() -> None:
    engine = base_engine()
    (exp,) = of(Exposure, run(engine, b.trade("t1", 4, CALL, "buy", 10)))
    theta = exp.theta
    assert theta < 0
    # theta limit just above the value (a minimum): open
    out = run(engine, b.limits("l1", 5, min_theta=theta * 0.99))
    assert [x.state for x in of(Breach, out)] == ["open"]
    # the value is above the limit by 1 % of |limit|: still open with h = 0.02
    assert of(Breach, run(engine, b.limits("l2", 6, min_theta=theta * 1.01))) == []
    # above by 3 % of |limit|: cleared
    out = run(engine, b.limits("l3", 7, min_theta=theta * 1.03))
    assert [x.state for x in of(Breach, out)] == ["cleared"]
    # h = 0 is v1: just inside clears
    run(engine, b.limits("l4", 8, min_theta=theta * 0.99, breach_hysteresis=0.0))
    out = run(engine, b.limits("l5", 9, min_theta=theta * 1.001, breach_hysteresis=0.0))
    assert [x.state for x in of(Breach, out)] == ["cleared"]


def test_breach_hysteresis_out_of_range_is_rejected() -> None:
    engine = base_engine()
    for i, bad in enumerate((-0.1, 1.0, "x")):
        (rej,) = run(engine, b.limits(f"bad{i}", 5, max_abs_delta=1.0, breach_hysteresis=bad))
        assert isinstance(rej, Rejected)
