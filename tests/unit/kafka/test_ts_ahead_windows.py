"""Records dated far ahead behind the gateway (docs/streaming.md, *A record dated far
ahead*): every processor instance emits what a file replay emits, rejects what it rejects.

The gateway's window ticks and end-of-input tick stand for book records and for the end
of the input: they must not move the processors' market clock (a file replay has no such
tick), and one that stands for a book record rejected as ts_ahead closes nothing."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from greekstream.core.engine import Engine
from greekstream.core.events import DECODE_REASONS
from tests.unit import builders as b
from tests.unit.kafka.test_epoch_windows import (
    CONFIG,
    PROPS,
    by_book,
    gateway_fresh,
    gateway_log,
    jittered_streams,
)
from tests.unit.test_emission_windows import SETUP

DAY = 86_400.0
CENTURY_AHEAD = 74 * 365 * DAY  # 2100


def rejections(outputs: list[Any]) -> list[tuple[str, str]]:
    """The engine's rejections (the gateway rejects what does not decode itself)."""
    return sorted((o.reason, o.raw) for o in outputs
                  if o.type == "rejected" and o.reason not in DECODE_REASONS)


def assert_processors_replay(records: list[bytes]) -> list[Any]:
    """One instance owning both book partitions, and each partition alone, against a
    file replay: each book's outputs in order, and the rejections (reason, record)."""
    engine = Engine(CONFIG)
    replayed = [o for i, raw in enumerate(records) for o in engine.handle(raw, f"f:{i}")]
    replayed += engine.flush()
    log = gateway_log(records)
    both = gateway_fresh([0, 1], log).run()
    got = [e.output for e in both.emitted]
    assert by_book(got) == by_book(replayed)
    assert rejections(got) == rejections(replayed)
    assert both.epoch.engine.state.market_clock == engine.state.market_clock
    alone: dict[str, list[bytes]] = {}
    for p in (0, 1):
        inst = gateway_fresh([p], log).run()
        alone.update({book: values for book, values in by_book(
            e.output for e in inst.emitted if e.partition == p).items() if book})
        assert inst.epoch.engine.state.market_clock == engine.state.market_clock
    assert alone == {book: values for book, values in by_book(replayed).items() if book}
    return replayed


def test_a_window_tick_does_not_move_the_market_clock() -> None:
    """A trade 200 days ahead (inside the limit) gets its window tick; market data 400
    days ahead is the clock moving on. Had the tick moved the processors' market clock
    (a file has no tick), a trade after it would be judged against the wrong clock."""
    records = [*SETUP,
               b.trade("t1", 200 * DAY, "BTC-PERPETUAL", "buy", 1, book="desk-a"),
               b.trade("t2", 570 * DAY, "BTC-PERPETUAL", "buy", 1, book="desk-b"),  # ahead
               b.index("x1", 400 * DAY, 61000),
               b.quote_mark("q1", 400 * DAY + 1, "BTC-PERPETUAL", 61000),
               b.trade("t3", 400 * DAY + 2, "BTC-PERPETUAL", "buy", 1, book="desk-b")]
    replayed = assert_processors_replay(records)
    assert [orjson.loads(o.raw)["event_id"] for o in replayed if o.type == "rejected"] == ["t2"]


def test_a_trade_dated_a_century_ahead_and_the_records_after_it() -> None:
    records = [*SETUP,
               b.trade("t1", 0.05, "BTC-PERPETUAL", "buy", 1, book="desk-a"),
               b.trade("typo", CENTURY_AHEAD, "BTC-PERPETUAL", "buy", 1, book="desk-b"),
               b.quote_mark("q1", 0.12, "BTC-PERPETUAL", 60010),
               b.trade("t2", 0.25, "BTC-PERPETUAL", "buy", 1, book="desk-b"),
               b.index("x1", 0.24, 60020),  # a feed's jitter, after a window the trade opened
               b.quote_mark("q2", 0.31, "BTC-PERPETUAL", 60030)]
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
