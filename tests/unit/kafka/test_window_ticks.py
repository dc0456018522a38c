"""The gateway's window ticks (kafka/gateway.py, docs/streaming.md *Emission windows
across instances*): a tick before a book record that moves past the window, so every
processor closes it where a file replay does; and ticks that close the window only."""

from __future__ import annotations

import io
from typing import Any

import orjson

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.timeutil import parse_ts
from greekstream.kafka.gateway import MARK_KEY
from greekstream.runtime.progress import Progress
from tests.unit import builders as b
from tests.unit.kafka.fakes import Clock
from tests.unit.kafka.test_live_gateway import SETUP, TOPICS, gateway


def publish(lines: list[bytes], idle_tick_ms: int = 100) -> list[dict[str, Any]]:
    """A file through the gateway: every record it publishes but the marks, in order."""
    gw, producer = gateway(Clock(), idle_tick_ms)
    gw.publish([(i, raw, f"f:{i}") for i, raw in enumerate(lines, 1)],
               Progress("produce", stream=io.StringIO(), enabled=False))
    return [r for r in producer.sent if r["key"] != MARK_KEY]


def kinds(records: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    out = []
    for r in records:
        doc = orjson.loads(r["value"])
        out.append((r["seq"], doc.get("type", "?"), doc.get("event_id", "?")))
    return out


def test_a_book_record_past_the_window_gets_a_tick_at_its_ts_just_before_it() -> None:
    lines = [*SETUP,
             b.trade("t1", 0.05, "BTC-PERPETUAL", "buy", 1),  # the window [0, 100 ms): none
             b.trade("t2", 0.15, "BTC-PERPETUAL", "buy", 1),  # past it: a tick first
             b.quote_mark("q1", 0.16, "BTC-PERPETUAL", 60010),
             b.trade("t3", 0.19, "BTC-PERPETUAL", "buy", 1)]  # in [100, 200): none
    records = publish(lines)
    assert kinds(records)[3:] == [
        (4, "trade", "t1"), (5, "tick", "gs-window-5"), (5, "trade", "t2"),
        (6, "quote", "q1"), (7, "trade", "t3"), (8, "tick", "gs-window-end-8")]
    tick = records[4]
    assert tick["topic"] == TOPICS.name("index")  # a market topic: merged before the trade
    assert parse_ts(orjson.loads(tick["value"])["ts"]) == parse_ts(b.ts(0.15))


def test_no_window_tick_without_windows_before_a_range_rejection_but_for_a_first_event() -> None:
    trade = b.trade("t2", 0.15, "BTC-PERPETUAL", "buy", 1)
    assert [k[1] for k in kinds(publish([*SETUP, trade], idle_tick_ms=0))].count("tick") == 0
    tiny = b.trade("t2", 0.15, "BTC-PERPETUAL", "buy", 1e-300)  # the engine's range rejects it
    assert [k[2] for k in kinds(publish([*SETUP, tiny]))].count("gs-window-4") == 0
    first = kinds(publish([trade, *SETUP]))  # a book record first: the window starts there
    assert first[:2] == [(1, "tick", "gs-window-1"), (1, "trade", "t2")]


def test_a_window_tick_closes_the_window_and_expires_no_intent() -> None:
    """An idle spell's tick is event time passing: the intent due by then expires at it.
    A window tick stands for the book record after it (or the end of the input): it
    closes the window, and the intent expires at the next record, as in a file replay."""
    setup = [*SETUP,
             b.limits("lim", 0.01, max_abs_delta=1.0, hedge_instrument="BTC-PERPETUAL",
                      hedge_band=0.5, hedge_timeout_s=0.1),
             b.trade("t1", 0.02, "BTC-PERPETUAL", "buy", 10_000),  # 1.7 BTC: an intent, due 0.12 s
             b.quote_mark("q1", 0.05, "BTC-PERPETUAL", 60100)]  # dirty in [0, 100 ms)

    def after(tick: bytes) -> list[tuple[str, str]]:
        engine = Engine(EngineConfig())
        for i, raw in enumerate(setup):
            engine.handle(raw, f"s:{i}")
        assert engine.state.books[("desk-a", "BTC")].pending is not None
        return [(o.type, getattr(o, "caused_by", "")) for o in engine.handle(tick, "t")]

    idle = after(b.tick("gs-tick-9", 0.2))
    window = after(b.tick("gs-window-9", 0.2))
    assert ("intent_status", "gs-tick-9") in idle and ("exposure", "q1") in idle
    assert [o for o in window if o[0] == "intent_status"] == []
    assert ("exposure", "q1") in window


def test_a_record_the_engine_rejects_as_dated_ahead_opens_no_window_and_moves_no_clock() -> None:
    """A trade dated a century ahead (ts_ahead in the engine): no window tick before it,
    and it does not move the gateway's clock, so the next book record past the window
    still gets its tick and the end-of-input tick follows the real records."""
    lines = [*SETUP,
             b.trade("typo", 74 * 365 * 86_400.0, "BTC-PERPETUAL", "buy", 1),  # 2100
             b.trade("t1", 0.15, "BTC-PERPETUAL", "buy", 1)]  # past [0, 100 ms): a tick
    records = publish(lines)
    assert kinds(records)[3:] == [
        (4, "trade", "typo"), (5, "tick", "gs-window-5"), (5, "trade", "t1"),
        (6, "tick", "gs-window-end-6")]
    end = parse_ts(orjson.loads(records[-1]["value"])["ts"])
    assert end == parse_ts(b.ts(0.15)) + 100_000  # the last real event + E
    # the processors' engines agree: the typo is rejected, the rest applied, as a file
    engine = Engine(EngineConfig())
    reasons = [o.reason for r in records for o in engine.handle(r["value"], "t")
               if o.type == "rejected"]
    assert reasons == ["ts_ahead"]
    # and a record before any market data is not compared (no market clock yet)
    first = kinds(publish([b.trade("t0", 74 * 365 * 86_400.0, "BTC-PERPETUAL", "buy", 1)]))
    assert first[:2] == [(1, "tick", "gs-window-1"), (1, "trade", "t0")]
