"""KafkaTxnProducer.commit (kafka/processor.py): retriable errors are retried with
backoff, and a stop request (SIGTERM) ends the retries with the error, no broker: the
confluent-kafka producer inside is replaced by a stub whose commit fails."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException

from greekstream.kafka.backoff import Backoff
from greekstream.kafka.processor import KafkaTxnProducer


class _FailingCommits:
    """commit_transaction raises a (retriable) timeout ``failures`` times, then returns."""

    def __init__(self, failures: int, retriable: bool = True) -> None:
        self.failures, self.retriable, self.calls = failures, retriable, 0

    def commit_transaction(self, _timeout: float) -> None:
        self.calls += 1
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


def test_a_stop_request_ends_the_commit_retries_with_the_error() -> None:
    """Without the stop check a broker that keeps timing out held SIGTERM forever."""
    producer, stub, troubles = _producer(failures=10_000, stop_after=2)
    with pytest.raises(KafkaException, match="slow broker"):
        producer.commit()
    assert stub.calls == 2 and len(troubles) == 1


def test_a_non_retriable_commit_error_is_raised_at_once() -> None:
    producer, stub, troubles = _producer(failures=1, stop_after=None, retriable=False)
    with pytest.raises(KafkaException, match="slow broker"):
        producer.commit()
    assert stub.calls == 1 and troubles == []
