"""KafkaTxnProducer.commit (kafka/processor.py): a commit that fails with a retriable
error is resumed with backoff (librdkafka allows nothing else then, not even an abort);
after a stop request (SIGTERM) for STOP_COMMIT_DEADLINE_S at most, then it raises
ProducerWedged. No broker: the confluent-kafka producer inside is replaced by a stub
whose commit fails."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException

from greekstream.kafka import processor
from greekstream.kafka.backoff import Backoff
from greekstream.kafka.processor import KafkaTxnProducer
from greekstream.kafka.transaction import ProducerWedged


class _FailingCommits:
    """commit_transaction raises a (retriable) timeout ``failures`` times, then returns."""

    def __init__(self, failures: int, retriable: bool = True) -> None:
        self.failures, self.retriable, self.calls = failures, retriable, 0
        self.timeouts: list[float] = []

    def commit_transaction(self, timeout: float) -> None:
        self.calls += 1
        self.timeouts.append(timeout)
        if self.calls <= self.failures:
            raise KafkaException(RdKafkaError(RdKafkaError._TIMED_OUT, "slow broker",
                                              retriable=self.retriable))


def _producer(failures: int, stop_after: int | None, retriable: bool = True
              ) -> tuple[KafkaTxnProducer, _FailingCommits, list[str]]:
    troubles: list[str] = []
    stub = _FailingCommits(failures, retriable)
    producer = KafkaTxnProducer(
        {"bootstrap.servers": "127.0.0.1:1", "transactional.id": "t"}, lambda: None,
        lambda s: Backoff(s / 1000, 0.001), troubles.append,
        stopping=lambda: stop_after is not None and stub.calls >= stop_after)
    producer.producer = stub  # type: ignore[assignment]
    return producer, stub, troubles


def test_a_retriable_commit_error_is_retried_until_the_commit_succeeds() -> None:
    producer, stub, troubles = _producer(failures=3, stop_after=None)
    producer.commit()
    assert stub.calls == 4 and len(troubles) == 3 and "slow broker" in troubles[0]


def test_after_a_stop_request_a_failing_commit_is_resumed_then_given_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the stop check a broker that kept failing the commit held SIGTERM until the
    liveness probe killed the pod; a stop now bounds the retries, resuming the commit
    (which may still succeed) until STOP_COMMIT_DEADLINE_S has passed."""
    monkeypatch.setattr(processor, "STOP_COMMIT_DEADLINE_S", 0.05)
    producer, stub, _ = _producer(failures=2_000, stop_after=2)
    with pytest.raises(ProducerWedged, match=r"after the stop request.*slow broker"):
        producer.commit()
    assert 3 <= stub.calls < 2_000  # resumed after the stop, then given up
    # the calls after the stop get what is left of the deadline, not 30 s each, and never
    # less than COMMIT_FLOOR_S (a negative timeout would wait for ever)
    assert stub.timeouts[:2] == [30.0, 30.0]
    assert set(stub.timeouts[2:]) == {processor.COMMIT_FLOOR_S}
    producer, stub, _ = _producer(failures=4, stop_after=2)
    producer.commit()  # a commit that succeeds when resumed after the stop is done
    assert stub.calls == 5


def test_a_non_retriable_commit_error_is_raised_at_once() -> None:
    producer, stub, troubles = _producer(failures=1, stop_after=None, retriable=False)
    with pytest.raises(KafkaException, match="slow broker"):
        producer.commit()
    assert stub.calls == 1 and troubles == []
