"""Records dated far ahead behind the gateway (docs/streaming.md, *A record dated far
ahead*): every processor instance emits what a file replay emits, rejects what it rejects.

The gateway's window ticks and end-of-input tick stand for book records and for the end
of the input: they must not move the processors' market clock (a file replay has no such
tick), and one that stands for a book record rejected as ts_ahead closes nothing."""

from __future__ import annotations

import io
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from greekstream.core.engine import Engine, EngineConfig
from greekstream.core.events import DECODE_REASONS
from greekstream.kafka.checkpoints import Recovered
from greekstream.kafka.epoch import Epoch
from greekstream.kafka.gateway import Gateway
from greekstream.runtime import progress as progress_bar
from tests.unit import builders as b
from tests.unit.kafka.test_epoch_windows import (
    CONFIG,
    GW_MARKET,
    GW_TOPICS,
    N_BOOK,
    PROPS,
    Instance,
    Log,
    PartitionedProducer,
    by_book,
    jittered_streams,
)
from tests.unit.test_emission_windows import SETUP

DAY = 86_400.0
CENTURY_AHEAD = 74 * 365 * DAY  # 2100


def rejections(outputs: list[Any]) -> list[tuple[str, str]]:
    """The engine's rejections (the gateway rejects what does not decode itself)."""
    return sorted((o.reason, o.raw) for o in outputs
                  if o.type == "rejected" and o.reason not in DECODE_REASONS)


def caused(outputs: list[Any]) -> set[str]:
    """The records the exposures are attributed to (a scenario's outputs are not empty)."""
    return {o.caused_by for o in outputs if o.type == "exposure"}


def published(runs: list[list[bytes]], config: EngineConfig) -> Log:
    """``greekstream produce`` of each run in turn (a new gateway each, seqs going on),
    with the processors' settings, a mark after every record."""
    producer = PartitionedProducer()
    counts = {t: (N_BOOK if t in GW_TOPICS.book_topics else 1)
              for t in [*GW_TOPICS.market_topics, *GW_TOPICS.book_topics]}
    seq = 1
    for run in runs:
        gw = Gateway({}, GW_TOPICS, mark_every=1, idle_tick_ms=config.emit_interval_ms,
                     max_ts_ahead_s=config.max_ts_ahead_s, clock=lambda: 0.0,
                     producer=producer, partitions=counts)
        gw.publish([(seq + i, raw, f"f:{seq + i}") for i, raw in enumerate(run)],
                   progress_bar.Progress("produce", stream=io.StringIO(), enabled=False))
        seq = gw.last_seq + 1
    return producer.log


def instance(owned: list[int], log: Log, config: EngineConfig) -> Instance:
    recovered = {p: Recovered(None, None, 0) for p in owned}
    epoch = Epoch.restore(config, owned, GW_TOPICS.book_topics, GW_MARKET, N_BOOK, recovered)
    inst = Instance(epoch, log)
    inst.book_topics = frozenset(GW_TOPICS.book_topics)
    return inst.run()


def assert_processors_replay(records: list[bytes], config: EngineConfig = CONFIG,
                             runs: list[list[bytes]] | None = None) -> list[Any]:
    """One instance owning both book partitions, and each partition alone, behind the
    gateway (one run of ``records``, or these ``runs``) against a file replay of the
    records: each book's outputs in order, and the rejections (reason, record)."""
    engine = Engine(config)
    replayed = [o for i, raw in enumerate(records) for o in engine.handle(raw, f"f:{i}")]
    replayed += engine.flush()
    log = published(runs or [records], config)
    both = instance([0, 1], log, config)
    got = [e.output for e in both.emitted]
    assert by_book(got) == by_book(replayed)
    assert rejections(got) == rejections(replayed)
    assert both.epoch.engine.state.market_clock == engine.state.market_clock
    alone: dict[str, list[bytes]] = {}
    for p in (0, 1):
        inst = instance([p], log, config)
        alone.update({book: values for book, values in by_book(
            e.output for e in inst.emitted if e.partition == p).items() if book})
        assert inst.epoch.engine.state.market_clock == engine.state.market_clock
    assert alone == {book: values for book, values in by_book(replayed).items() if book}
    return replayed


def test_a_window_tick_does_not_move_the_market_clock() -> None:
    """A trade 200 days ahead (inside the limit) gets its window tick; one 500 days ahead
    is past the limit from the market's clock but not from the first trade's. Had the
    tick moved the processors' or the gateway's market clock (a file has no tick), the
    second trade and the windows after it would differ from the file's."""
    records = [*SETUP,
               b.trade("t1", 200 * DAY, "BTC-PERPETUAL", "buy", 1, book="desk-a"),
               b.trade("t2", 500 * DAY, "BTC-PERPETUAL", "buy", 1, book="desk-b"),  # ahead
               b.quote_opt("q1", 200 * DAY + 0.05, "C60", 60100, 0.6),
               b.trade("t3", 200 * DAY + 0.15, "BTC-PERPETUAL", "buy", 1, book="desk-a"),
               b.index("j", 200 * DAY + 0.098, 60200),  # a feed's jitter
               b.quote_opt("q2", 200 * DAY + 0.16, "C60", 60300, 0.6),
               b.index("x1", 400 * DAY, 61000),  # market data moves the clock on
               b.trade("t4", 400 * DAY + 2, "BTC-PERPETUAL", "buy", 1, book="desk-b")]
    replayed = assert_processors_replay(records)
    assert [orjson.loads(o.raw)["event_id"] for o in replayed if o.type == "rejected"] == ["t2"]
    assert {"q1", "q2", "t3", "t4"} <= caused(replayed)


def test_the_end_tick_closes_the_last_window_even_past_the_limit() -> None:
    """The end-of-input tick stands for the end of the file, not for a book record: with
    a limit below the window (50 ms < E = 100 ms) it is past the limit, and still closes
    the last window as a file replay's end does."""
    config = EngineConfig(emit_interval_ms=100, max_ts_ahead_s=0.05)
    for last in ([b.quote_opt("q1", 0.05, "C60", 60100, 0.6)],
                 [b.quote_opt("q1", 0.05, "C60", 60100, 0.6),
                  b.trade("t1", 0.06, "BTC-PERPETUAL", "buy", 1, book="desk-a")]):
        replayed = assert_processors_replay([*SETUP, *last], config)
        assert "q1" in caused(replayed)  # the last window's close


def test_a_new_gateway_run_and_window_ticks_in_the_input() -> None:
    """A second gateway run knows no market clock: its first line, a trade dated 2100,
    gets a window tick the processors ignore, and its end tick still closes the last
    window. A run whose first line is two days older than the processors' clock (late):
    its window tick is nothing, not a second rejection. A window tick in the input itself
    (an exported topic produced again) dated past the limit moves no clock."""
    first = [*SETUP, b.quote_opt("q1", 0.05, "C60", 60100, 0.6)]
    second = [b.trade("typo", CENTURY_AHEAD, "BTC-PERPETUAL", "buy", 1, book="desk-a"),
              b.trade("t-b2", 0.25, "BTC-PERPETUAL", "buy", 1, book="desk-b"),
              b.quote_opt("q2", 0.26, "C60", 61500, 0.6),
              b.trade("t-a3", 0.45, "BTC-PERPETUAL", "buy", 1, book="desk-a")]
    replayed = assert_processors_replay([*first, *second], runs=[first, second])
    assert {"q1", "q2", "t-b2", "t-a3"} <= caused(replayed)
    moved = [*SETUP, b.quote_opt("q1", 2 * DAY, "C60", 60100, 0.6)]
    old = [b.trade("old", 0.5, "BTC-PERPETUAL", "buy", 1, book="desk-a"),
           b.quote_opt("q2", 2 * DAY + 0.2, "C60", 60200, 0.6)]
    replayed = assert_processors_replay([*moved, *old], runs=[moved, old])
    assert [o.reason for o in replayed if o.type == "rejected"] == ["late_event"]
    assert "q2" in caused(replayed)
    tick = b'{"type":"tick","event_id":"gs-window-77","ts":"%s"}' % b.ts(400 * DAY).encode()
    replayed = assert_processors_replay([*SETUP, tick, b.quote_opt("q1", 0.05, "C60", 60100, 0.6),
                              b.trade("t3", 0.15, "BTC-PERPETUAL", "buy", 1, book="desk-b"),
                              b.index("j", 0.098, 60200),
                              b.quote_opt("q2", 0.16, "C60", 60300, 0.6)])
    assert {"q1", "t3", "q2"} <= caused(replayed)


def test_a_trade_dated_a_century_ahead_and_the_records_after_it() -> None:
    records = [*SETUP,
               b.trade("t1", 0.05, "BTC-PERPETUAL", "buy", 1, book="desk-a"),
               b.trade("typo", CENTURY_AHEAD, "BTC-PERPETUAL", "buy", 1, book="desk-b"),
               b.quote_opt("q1", 0.12, "C60", 60010, 0.6),
               b.trade("t2", 0.25, "BTC-PERPETUAL", "buy", 1, book="desk-b"),
               b.index("x1", 0.24, 60020),  # a feed's jitter, after a window the trade opened
               b.quote_opt("q2", 0.31, "C60", 60030, 0.6)]
    replayed = assert_processors_replay(records)
    assert [o.reason for o in replayed if o.type == "rejected"] == ["ts_ahead"]


@PROPS
@given(jittered_streams(), st.data())
def test_behind_the_gateway_a_book_record_dated_ahead_changes_nothing_else(
        records: list[bytes], data: st.DataObject) -> None:
    """Any book record of a dense stream copied a century ahead, anywhere after the
    first market record: every instance emits the file replay's outputs."""
    books = [raw for raw in records
             if raw.startswith(b'{"type":"trade"') or raw.startswith(b'{"type":"limits"')]
    if not books:
        return
    model = orjson.loads(data.draw(st.sampled_from(books), label="copy of"))
    model.update(event_id="dated-ahead", ts=b.ts(CENTURY_AHEAD))
    at = data.draw(st.integers(len(SETUP), len(records)), label="at")
    replayed = assert_processors_replay([*records[:at], orjson.dumps(model), *records[at:]])
    assert "ts_ahead" in [o.reason for o in replayed if o.type == "rejected"]


def test_a_trade_dated_two_days_ahead_inside_the_limit() -> None:
    """A mistyped day (inside max_ts_ahead_s, so applied): the market's records and the
    other books' after it are judged against the market's clock, not late, on every
    instance as in the file. (The emission window is the largest ts's, by the contract:
    the market's keys emit at the end of the input.)"""
    records = [*SETUP,
               b.trade("typo", 2 * DAY, "BTC-PERPETUAL", "buy", 1, book="desk-a"),
               b.quote_opt("q1", 0.12, "C60", 60010, 0.6),
               b.trade("t2", 0.25, "BTC-PERPETUAL", "buy", 1, book="desk-b"),
               b.index("x1", 0.24, 60020),
               b.trade("t3", 0.3, "BTC-PERPETUAL", "sell", 1, book="desk-a"),
               b.quote_opt("q2", 0.31, "C60", 60030, 0.6)]
    replayed = assert_processors_replay(records)
    assert [o.reason for o in replayed if o.type == "rejected"] == []
    assert {"typo", "t2", "t3"} <= caused(replayed)
