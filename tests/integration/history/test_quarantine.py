"""The sink's quarantine (docs/history.md#quarantine) on real chDB: an output record that
cannot become its rows is stored in `output_quarantine` with its reason, an input record
whose row ClickHouse refuses in `input_quarantine`; the records around it are stored, and
the same offsets stored again add nothing. Through the HistoryWriter directly (each case
alone), then through the sink against a real Tansu broker (it keeps running, commits its
offsets, reports and logs each one)."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from tests.integration.history.test_sink import (  # noqa: F401  (prefix: a fixture)
    Running,
    _get,
    make_sink,
    prefix,
    produce,
    running,
    wait_for,
)

from greekstream.cli import main
from greekstream.errors import HistoryError
from greekstream.history import connect
from greekstream.history.client import History
from greekstream.history.migrate import migrate
from greekstream.history.rows import EXPOSURES, Quarantined
from greekstream.history.sink import topic_names
from greekstream.history.writer import HistoryWriter
from greekstream.kafka.ops import serve_ops

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TOPIC = "gs.exposures"


def good(n: int, **changes: Any) -> bytes:
    """An exposure output as the engine encodes it (a hash-chain link included)."""
    fields = {
        "type": "exposure", "event_id": f"x{n}", "ts": f"2026-03-01T00:00:{n % 60:02d}Z",
        "book": "desk-a", "underlying": "BTC", "delta": 0.5, "delta_equity": 0.5,
        "gamma": 0.001, "vega": 10.0, "theta": -5.0, "delta_usd": 9.5, "positions": 3,
        "caused_by": f"c{n}", "stale": False, "oracle_divergence": False,
        "prev": f"{n - 1:064x}", "hash": f"{n:064x}", **changes,
    }
    return orjson.dumps({k: v for k, v in fields.items() if v != "<absent>"})


# (case, the malformed record, its reason, whether its hash-chain row is stored): one of
# each way a record fails
CASES = [
    ("non-JSON bytes", b"\xff\xfe\x00 not json {", "not_json", False),
    ("a JSON array", b'[{"type":"exposure","event_id":"x9"}]', "not_an_object", False),
    ("no event_id", good(900, event_id="<absent>"), "missing_field", False),
    ("a wrong-typed field", good(901, delta="0.5"), "wrong_type", False),
    ("a wrong-typed field, Python row builder",
     b'{"type":"var","event_id":"v1","ts":"2026-03-01T00:00:00Z","book":"desk-a",'
     b'"var":"high","es":1.0,"hash":"ab"}', "wrong_type", False),
    # a key written twice: ClickHouse refuses it among the columns (Code 117) and keeps
    # the first value silently once it has read every column, where orjson (the checks,
    # the chain row) reads the last
    ("a key written twice among the columns",
     good(902).replace(b'"delta":0.5,', b'"delta":0.5,"delta":1,'), "duplicate_key", False),
    ("a key written twice after the columns", good(903)[:-1] + b',"delta":1}',
     "duplicate_key", False),
    # valid JSON every check passes, which ClickHouse refuses at the exposures insert (the
    # record's own `seq` beside the one the sink splices in: Code 117); its chain row went
    # in first and stays
    ("a row ClickHouse refuses", good(904).replace(b'"event_id"', b'"seq":5,"event_id"', 1),
     "clickhouse_refused", True),
    # a rejection whose chain row cannot be stored (a ts beyond Int64 for its DateTime64)
    # while its rejections row could: the chain row goes first, so neither is stored
    ("a hash-chain row ClickHouse refuses",
     b'{"type":"rejected","event_id":"r1","ts":9223372036854775808,"reason":"late_event",'
     b'"detail":"","source":"gs.trades/0/7","raw":"{}","prev":"","hash":"ab"}',
     "clickhouse_refused", False),
]


def fresh(dsn: str) -> History:
    history = connect(dsn, create=True)
    migrate(history)
    return history


def stored(history: History) -> dict[str, Any]:
    """Physical rows (no FINAL: a duplicate would show) and what the quarantine holds."""
    return {
        "exposures": history.rows("SELECT count(), groupArray(event_id) FROM exposures")[0],
        "rejections": history.rows("SELECT count() FROM rejections")[0][0],
        "chain": history.rows("SELECT count() FROM output_chain")[0][0],
        "quarantine": history.rows(
            "SELECT topic, partition, offset, reason, hex(raw) FROM output_quarantine "
            "ORDER BY offset"),
    }


def write(history: History, records: list[bytes], token: str) -> list[Any]:
    writer = HistoryWriter(history)
    answers = [writer.add_output_json(body, offset, TOPIC, 2)
               for offset, body in enumerate(records)]
    writer.flush(token)
    assert writer.pending == 0
    return [*answers, writer.take_quarantined()]


@pytest.mark.parametrize(("case", "bad", "reason", "chained"), CASES, ids=[c[0] for c in CASES])
def test_a_malformed_output_is_quarantined_and_the_others_stored(
    dsn: str, case: str, bad: bytes, reason: str, chained: bool
) -> None:
    records = [good(1), good(2), bad, good(3)]
    with fresh(dsn) as history:
        *answers, reported = write(history, records, token="gs.exposures/2/0-4")
        assert answers[0] == answers[1] == answers[3] == "exposure"
        if reason == "clickhouse_refused":  # found at the insert: the batch is bisected
            assert answers[2] == orjson.loads(bad)["type"]
        else:  # found before it is buffered
            assert isinstance(answers[2], Quarantined) and answers[2].reason == reason
        after = stored(history)
        assert after["exposures"][0] == 3 and sorted(after["exposures"][1]) == ["x1", "x2", "x3"]
        assert after["rejections"] == 0
        # a quarantined record stores nothing else, but for the chain row stored before
        # ClickHouse refused the record's table row
        assert after["chain"] == 3 + chained
        assert after["quarantine"] == [(TOPIC, 2, 2, reason, bad.hex().upper())]
        assert [(q.offset, q.reason) for q in reported] == [(2, reason)]
        assert reported[0].message

        # the same offsets again (a redelivered batch, same deduplication token): no doubles
        write(history, records, token="gs.exposures/2/0-4")
        assert stored(history) == after


def test_the_quarantine_keeps_the_bytes_and_history_status_counts_it(
    dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = CASES[0][1]
    with fresh(dsn) as history:
        write(history, [bad, good(1)], token="t/0/0-2")
        write(history, [bad], token="t/0/0-1")  # the same offset again, another batch
        assert history.rows("SELECT hex(raw) FROM output_quarantine FINAL") == [
            (bad.hex().upper(),)]
    assert main(["history", "status", dsn]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["quarantined_outputs"] == 1 and status["rows"]["exposures"] == 1


def test_the_sink_quarantines_and_keeps_running(
    kafka_bootstrap: str, prefix: str, dsn: str, running: list[Running],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every case in one stream between good records: the sink stores the good ones,
    quarantines each bad one once, commits past them and reports them; a second sink
    re-reading every offset (another group) adds no quarantine row."""
    topic = f"{prefix}.exposures"
    assert topic in topic_names(prefix)[1]
    records: list[bytes] = []
    for n, (_, bad, _, _) in enumerate(CASES):
        records += [good(10 * n), bad, good(10 * n + 1)]
    produce(kafka_bootstrap, [(topic, r) for r in records])
    goods = 2 * len(CASES)

    caplog.set_level(logging.WARNING, logger="greekstream.sink")
    sink = make_sink(kafka_bootstrap, dsn, prefix, group=f"{prefix}-q")
    ops = serve_ops("127.0.0.1", 0, sink.health.as_dict)
    try:
        worker = Running(sink)
        running.append(worker)
        wait_for(lambda: sink.health.quarantined_outputs == len(CASES), 60,
                 "every malformed record to be quarantined")
        wait_for(lambda: _exposures(dsn) == goods, 30, "the good records to be stored")
        assert worker.thread.is_alive() and worker.error is None
        assert sink.health.healthy
        healthz = f"http://127.0.0.1:{ops.server_address[1]}/healthz"
        assert _get(healthz) == 200
        with urllib.request.urlopen(healthz, timeout=5) as answer:
            payload = json.loads(answer.read())
        assert (payload["status"], payload["quarantined_outputs"]) == ("ok", len(CASES))
        assert payload["skipped_outputs"] == 0  # no unknown type among the cases
        wait_for(lambda: _committed(kafka_bootstrap, f"{prefix}-q", topic) == len(records), 30,
                 "the offsets past every record to be committed")
        worker.stop()
    finally:
        ops.shutdown()
        ops.server_close()

    lines = [r for r in caplog.records if getattr(r, "event", "") == "output_quarantined"]
    assert sorted(r.reason for r in lines) == sorted(c[2] for c in CASES)  # type: ignore[attr-defined]
    assert all(r.topic == topic and isinstance(r.offset, int) for r in lines)  # type: ignore[attr-defined]
    with connect(dsn) as history:
        held = history.rows("SELECT reason, hex(raw) FROM output_quarantine")
        assert sorted(held) == sorted((c[2], c[1].hex().upper()) for c in CASES)

    again = Running(make_sink(kafka_bootstrap, dsn, prefix, group=f"{prefix}-q2"))
    running.append(again)
    wait_for(lambda: again.sink.health.quarantined_outputs == len(CASES), 60,
             "the second sink to meet every malformed record again")
    again.stop()
    with connect(dsn) as history:
        final = history.rows("SELECT count(), uniqExact(topic, partition, offset) "
                             "FROM output_quarantine FINAL")[0]
        assert final == (len(CASES), len(CASES))
        assert history.rows("SELECT count() FROM exposures FINAL")[0][0] == goods


def test_clickhouse_reads_a_key_written_twice_by_where_it_stands(dsn: str) -> None:
    """What the `duplicate_key` check guards against, as chDB does it under the sink's
    JSONEachRow settings: a repeated column refused (Code 117) while some column is still
    unread, and once every column is read the rest of the object unread
    (`input_format_json_ignore_unnecessary_fields`), so a later repeat is dropped and the
    first value stored; orjson, which the checks and the chain row read, keeps the last."""
    late = good(1)[:-1] + b',"delta":1}'
    early = good(2).replace(b'"delta":0.5,', b'"delta":0.5,"delta":1,')
    assert orjson.loads(late)["delta"] == orjson.loads(early)["delta"] == 1
    with fresh(dsn) as history:
        history.insert_json("exposures", b'{"seq":1,' + late[1:], EXPOSURES.columns)
        assert history.rows("SELECT event_id, delta FROM exposures") == [("x1", 0.5)]
        with pytest.raises(HistoryError, match=r"Code: 117.*Duplicate field.*delta"):
            history.insert_json("exposures", b'{"seq":2,' + early[1:], EXPOSURES.columns)


INPUTS = "gs.trades"


def trade(n: int, **changes: Any) -> bytes:
    return orjson.dumps({"type": "trade", "event_id": f"t{n}",
                         "ts": f"2026-03-01T00:00:{n:02d}Z", "book": "desk-a",
                         "instrument_id": "BTC-PERP", "side": "buy", "quantity": 1,
                         "price": 100.0, **changes})


def refuse_poison(history: History) -> None:
    """ClickHouse refuses, for its data, the raw_events row of any record holding
    "poison" (VIOLATED_CONSTRAINT, Code 469): no value raw_row builds is refused by the
    schema itself (it stores any bytes), and a refusal is what is tested."""
    history.command("ALTER TABLE raw_events ADD CONSTRAINT no_poison "
                    "CHECK position(raw, 'poison') = 0")


def write_inputs(history: History, records: list[bytes], token: str) -> list[Quarantined]:
    writer = HistoryWriter(history)
    for offset, body in enumerate(records):
        writer.add_record(body, f"{INPUTS}/1/{offset}", (INPUTS, 1, offset, body))
    writer.flush(token)
    assert writer.pending == 0
    return writer.take_quarantined()


def test_an_input_row_clickhouse_refuses_is_quarantined_and_the_others_stored(
    dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, an input row was the one kind a refusal could not be split to (no
    origin): raised like an outage, the sink retried that batch forever."""
    poison = trade(2, event_id="poison-2")
    records = [trade(1), poison, trade(3)]
    with fresh(dsn) as history:
        refuse_poison(history)
        reported = write_inputs(history, records, token="gs.trades/1/0-3")
        assert [(q.topic, q.partition, q.offset, q.type, q.event_id, q.reason)
                for q in reported] == [(INPUTS, 1, 1, "trade", "poison-2", "clickhouse_refused")]
        assert "VIOLATED_CONSTRAINT" in reported[0].message

        def held() -> dict[str, Any]:
            return {
                "raw": history.rows("SELECT source, event_id FROM raw_events ORDER BY source"),
                "inputs": history.rows(
                    "SELECT topic, partition, offset, type, event_id, reason, hex(raw) "
                    "FROM input_quarantine"),
                "outputs": history.rows("SELECT count() FROM output_quarantine")[0][0],
            }

        after = held()
        assert after == {
            "raw": [(f"{INPUTS}/1/0", "t1"), (f"{INPUTS}/1/2", "t3")],
            "inputs": [(INPUTS, 1, 1, "trade", "poison-2", "clickhouse_refused",
                        poison.hex().upper())],
            "outputs": 0,
        }
        write_inputs(history, records, token="gs.trades/1/0-3")  # redelivered: no doubles
        assert held() == after
    assert main(["history", "status", dsn]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["quarantined_inputs"], status["quarantined_outputs"]) == (1, 0)


def test_an_input_batch_is_kept_and_retried_while_clickhouse_is_unreachable(
    dsn: str
) -> None:
    """Only a refusal for the rows' data is quarantined: a closed connection is an
    outage, the batch is kept whole (nothing quarantined) and stored once it is back."""
    records = [trade(1), trade(2), trade(3)]
    history = fresh(dsn)
    writer = HistoryWriter(history)
    for offset, body in enumerate(records):
        writer.add_record(body, f"{INPUTS}/0/{offset}", (INPUTS, 0, offset, body))
    history.close()
    with pytest.raises(HistoryError):
        writer.flush("gs.trades/0/0-3")
    assert writer.pending == 3 and writer.take_quarantined() == []
    with connect(dsn) as again:
        writer.history = again
        assert writer.flush("gs.trades/0/0-3") == 3
        assert again.rows("SELECT count() FROM raw_events")[0][0] == 3
        assert again.rows("SELECT count() FROM input_quarantine")[0][0] == 0


def test_the_sink_quarantines_a_refused_input_and_keeps_running(
    kafka_bootstrap: str, prefix: str, dsn: str, running: list[Running],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = f"{prefix}.trades"
    assert topic in topic_names(prefix)[0]
    records = [trade(1), trade(2, event_id="poison-2"), trade(3), trade(4)]
    with fresh(dsn) as history:
        refuse_poison(history)
    produce(kafka_bootstrap, [(topic, r) for r in records])

    caplog.set_level(logging.WARNING, logger="greekstream.sink")
    sink = make_sink(kafka_bootstrap, dsn, prefix, group=f"{prefix}-i")
    worker = Running(sink)
    running.append(worker)
    wait_for(lambda: sink.health.quarantined_inputs == 1, 60,
             "the refused input record to be quarantined")
    wait_for(lambda: _committed(kafka_bootstrap, f"{prefix}-i", topic) == len(records), 30,
             "the offsets past every input record to be committed")
    assert worker.thread.is_alive() and worker.error is None
    assert sink.health.healthy and sink.health.quarantined_outputs == 0
    assert sink.health.as_dict()["quarantined_inputs"] == 1
    worker.stop()

    lines = [r for r in caplog.records if getattr(r, "event", "") == "input_quarantined"]
    assert [(r.topic, r.reason, r.event_id) for r in lines] == [  # type: ignore[attr-defined]
        (topic, "clickhouse_refused", "poison-2")]
    with connect(dsn) as history:
        assert sorted(history.rows("SELECT event_id FROM raw_events FINAL")) == [
            ("t1",), ("t3",), ("t4",)]
        assert history.rows("SELECT topic, event_id, reason FROM input_quarantine FINAL") == [
            (topic, "poison-2", "clickhouse_refused")]


def _exposures(dsn: str) -> int:
    with connect(dsn) as history:
        return int(history.rows("SELECT count() FROM exposures FINAL")[0][0])


def _committed(bootstrap: str, group: str, topic: str) -> int:
    """The group's committed offsets on the topic, summed over its partitions."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = consumer.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
        return sum(max(tp.offset, 0) for tp in parts)
    finally:
        consumer.close()


def test_a_json_batch_over_too_many_days_is_split_not_retried_forever(dsn: str) -> None:
    """Exposures of 150 distinct days in one JSONEachRow insert touch more partitions
    than ClickHouse takes in one block (100): the insert is split, every row stored and
    none quarantined (before, the sink retried that batch forever as an outage)."""
    days = [f"2026-{1 + d // 28:02d}-{1 + d % 28:02d}T00:00:00Z" for d in range(150)]
    records = [good(n, ts=ts) for n, ts in enumerate(days)]
    with fresh(dsn) as history:
        *answers, reported = write(history, records, token="t/0/0-150")
        assert answers == ["exposure"] * 150 and reported == []
        assert history.rows("SELECT count(), uniqExact(toDate(ts)) FROM exposures")[0] == (
            150, 150)
        assert history.rows("SELECT count() FROM output_quarantine")[0][0] == 0


def test_a_refused_value_is_quarantined_with_its_cause_and_no_traceback_in_the_log(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """clickhouse-connect logs an ERROR with a traceback for each insert it cannot
    serialize; the sink splits the batch down to the bad row, so one bad row among 64 used
    to log 7 of them. The refusal reaches the quarantine instead, its cause included."""
    bad = CASES[-1][1]  # a ts beyond Int64 for its hash-chain row's DateTime64
    records = [good(n) for n in range(1, 33)] + [bad] + [good(n) for n in range(33, 64)]
    with caplog.at_level(logging.DEBUG), fresh(dsn) as history:
        *_, reported = write(history, records, token="gs.exposures/2/0-64")
        assert history.rows("SELECT count() FROM exposures")[0][0] == 63
    assert [(q.offset, q.reason) for q in reported] == [(32, "clickhouse_refused")]
    assert "struct.error: argument out of range" in reported[0].message, reported[0].message
    logged = [r for r in caplog.records if r.name.startswith("clickhouse_connect")]
    assert not [r for r in logged if r.levelno >= logging.WARNING], [
        r.getMessage() for r in logged]
