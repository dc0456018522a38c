"""Poison lines at the gateway's door (kafka/gateway.py): a line the gateway rejects goes
to ``.rejected`` and the lines after it are published, whatever it holds."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from greekstream.runtime.progress import Progress
from tests.unit import builders as b
from tests.unit.kafka.fakes import Clock
from tests.unit.kafka.test_live_gateway import SETUP, TOPICS, gateway, run

# RFC 3339 with an offset that puts the moment past 9999-12-31 UTC (or before 0001-01-01):
# it parses, and no datetime can format it back
PAST_9999 = "9999-12-31T23:59:59-23:59"
BEFORE_1 = "0001-01-01T00:00:00+23:59"


def test_a_record_dated_past_what_a_date_can_hold_is_rejected_and_the_next_published(
        ) -> None:
    """An invalid record's rejection carried its ts, which the rejection's encoding could
    not format (OverflowError): the gateway stopped with a traceback at the line, and at
    the same line on every run; a live one dated so (a tick: valid but for its range) went
    through the wall clock bound's detail, which stopped it too. Now the rejection has no
    ts, as the engine's (Engine._rejected): the ts is outside the accepted range."""
    poison = [b'{"type":"quote","event_id":"q-bad","ts":"%s"}' % ts.encode()
              for ts in (PAST_9999, BEFORE_1)]
    after = b.quote_mark("q1", 1.0, "BTC-PERPETUAL", 60010)
    gw, producer = gateway(Clock())
    gw.publish([(i, raw, f"f:{i}") for i, raw in enumerate([*SETUP, *poison, after], 1)],
               Progress("produce", stream=io.StringIO(), enabled=False))
    assert gw.report.reasons == {"invalid_event": 2}
    rejected = [orjson.loads(r["value"]) for r in producer.records()
                if r["topic"] == TOPICS.name("rejected")]
    assert [(r["source"], r["ts"]) for r in rejected] == [("f:4", None), ("f:5", None)]
    assert b'"q1"' in producer.records()[-2]["value"]  # then the end-of-input tick

    tick = b'{"type":"tick","event_id":"t-bad","ts":"%s"}' % PAST_9999.encode()
    gw, producer, _ = run([(0.0, SETUP), (0.5, [tick, after])])
    assert gw.report.reasons == {"ts_ahead": 1}  # dated past the wall clock's bound
    (out,) = [orjson.loads(r["value"]) for r in producer.records()
              if r["topic"] == TOPICS.name("rejected")]
    assert out["source"] == "stdin:4" and out["ts"] is None and "--max-ahead" in out["detail"]
    assert gw.report.published == 4


def test_the_end_of_a_file_counts_the_records_the_broker_refused() -> None:
    """A file's records whose delivery failed (a broker away longer than the delivery
    timeout) are reported at the end: the error said "0 records not delivered" (what was
    left in the queue), with at most ten of the errors, however many were lost."""
    from greekstream.errors import KafkaError

    lines = [*SETUP, *(b.quote_mark(f"lost{i}", i / 10, "BTC-PERPETUAL", 60000 + i)
                       for i in range(1, 21))]
    gw, producer = gateway(Clock())
    refuse = producer.produce

    def produce(*args: Any, on_delivery: Any = None, **kwargs: Any) -> None:
        refused = b'"lost' in args[1]  # 20 quotes; the rest, marks and ticks delivered
        refuse(*args, on_delivery=lambda err, msg: on_delivery(
            "Local: Message timed out" if refused else err, msg), **kwargs)

    producer.produce = produce  # type: ignore[method-assign]
    with pytest.raises(KafkaError, match=r"^20 records not delivered"):
        gw.publish([(i, raw, f"f:{i}") for i, raw in enumerate(lines, 1)],
                   Progress("produce", stream=io.StringIO(), enabled=False))
