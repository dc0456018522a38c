"""The processor's health and lag parts (kafka/health.py), alone with a fake clock and
inside a processor over fake clients (tests/unit/kafka/fakes.py), no broker."""

from __future__ import annotations

import logging

import pytest

from greekstream.kafka.health import Lag, Liveness
from greekstream.kafka.ops import Metrics
from tests.unit.kafka.fakes import BOOK, TOPICS, Clock, FakeConsumer, Gateway, assign, processor


def gauge(metrics: Metrics, name: str, **labels: str) -> float | None:
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def test_liveness_is_unhealthy_once_the_loop_stops_turning_for_a_minute() -> None:
    clock = Clock()
    live = Liveness("i1", clock=clock)
    assert live.report() == {"status": "ok", "instance": "i1", "last_error": ""}
    clock.now += 60.0
    assert live.report()["status"] == "ok"
    clock.now += 0.1
    assert live.report()["status"] == "unhealthy"
    assert live.beat() == clock.now
    assert live.report()["status"] == "ok"


def test_a_declared_blocking_call_keeps_the_loop_alive_for_its_bound_only() -> None:
    """Liveness.waiting: a client call bounded at 45 s (send_offsets) leaves /healthz ok
    for 45 s + the 60 s stuck limit after it began; past that the call is wedged beyond
    its own bound and the loop is stuck. The allowance ends with the call (nested calls
    keep the larger), and both ends beat."""
    clock = Clock()
    live = Liveness("i1", clock=clock)
    clock.now += 50.0
    with live.waiting(45.0):
        assert live.last_loop == clock.now  # the entry beats
        clock.now += 105.0
        assert live.report()["status"] == "ok"
        with live.waiting(10.0):
            assert live.allowance == 45.0
        assert live.allowance == 45.0
        clock.now += 105.1
        assert live.report()["status"] == "unhealthy"
    assert live.report()["status"] == "ok" and live.allowance == 0.0  # the exit beats
    clock.now += 60.1
    assert live.report()["status"] == "unhealthy"  # no allowance once the call returned
    with pytest.raises(RuntimeError), live.waiting(30.0):
        raise RuntimeError("the call failed")
    assert live.allowance == 0.0


def test_broker_trouble_is_kept_and_logged_once_per_message(
        caplog: pytest.LogCaptureFixture) -> None:
    live = Liveness("i1", clock=Clock())
    with caplog.at_level(logging.WARNING, logger="greekstream.process"):
        for text in ("down", "down", "still down", "down"):
            live.trouble(text)
    assert [r.getMessage() for r in caplog.records] == [
        "kafka: down", "kafka: still down", "kafka: down"]
    assert live.report()["last_error"] == "down"


def test_lag_is_refreshed_at_most_every_half_second() -> None:
    clock = Clock()
    lag = Lag(Metrics(), clock=clock)
    assert lag.due(clock.now)  # never refreshed
    lag.update(None, lambda _t: FakeConsumer({}), last_checkpoint=0.0)
    assert not lag.due(clock.now + 0.5) and lag.due(clock.now + 0.51)


def test_the_processor_reports_lag_checkpoint_age_and_health() -> None:
    proc, kafka = processor()
    assert proc.health()["status"] == "ok" and proc.health()["instance"] == "i1"
    assign(proc, kafka, [0])
    kafka.books.high[(BOOK, 0)] = 10
    market = (TOPICS.market_topics[0], 0)
    kafka.market.high[market] = 4
    proc.lag.last = 0.0  # due now
    proc.step()
    m = proc.metrics
    assert gauge(m, "greekstream_consumer_lag", topic=BOOK, partition="0") == 10.0
    assert gauge(m, "greekstream_consumer_lag", topic=market[0], partition="0") == 4.0
    age = gauge(m, "greekstream_checkpoint_age_seconds")
    assert age is not None and 0.0 <= age < 60.0
    Gateway(proc, kafka).publish(0)  # offset 0 of BOOK/0, and marks everywhere else
    proc.lag.last = 0.0
    proc.step()
    assert gauge(m, "greekstream_consumer_lag", topic=BOOK, partition="0") == 9.0
    assert gauge(m, "greekstream_consumer_lag", topic=market[0], partition="0") == 3.0
    proc._broker_trouble("broker gone")
    assert proc.health()["last_error"] == "broker gone"


def test_the_processor_declares_its_producers_blocking_calls_to_its_liveness() -> None:
    proc, kafka = processor()
    assert kafka.producer_waiting == proc.liveness.waiting
