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
from greekstream.kafka.health import Liveness
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


class _BrokenClient:
    """A confluent-kafka producer whose C layer fails every call with the SystemError seen
    in CI (an exception state it could not restore), and records a purge."""

    def __init__(self) -> None:
        self.purged: list[dict[str, bool]] = []

    def _broken(self, *args: object, **kwargs: object) -> None:
        raise SystemError("_PyErr_SetObject: exception <class 'str'> is not a "
                          "BaseException subclass")

    flush = produce = begin_transaction = commit_transaction = abort_transaction = _broken

    def purge(self, in_queue: bool, in_flight: bool, blocking: bool) -> None:
        self.purged.append({"in_queue": in_queue, "in_flight": in_flight,
                            "blocking": blocking})


@pytest.mark.parametrize("call", ["flush", "send", "begin", "commit", "abort"])
def test_a_system_error_inside_the_client_is_a_producer_to_replace(call: str) -> None:
    """The processor exited 1 with this SystemError out of Producer.flush at an idle
    checkpoint after an outage; it is now ProducerWedged, which replaces the producer and
    restores (test_processor.py), instead of an exception that ends the process."""
    producer, _, _ = _producer(failures=0, stop_after=None)
    producer.producer = _BrokenClient()  # type: ignore[assignment]
    args: dict[str, tuple[object, ...]] = {"flush": (30,), "send": ("t", b"v", b"k")}
    with pytest.raises(ProducerWedged, match=r"failed inside confluent-kafka.*SystemError"):
        getattr(producer, call)(*args.get(call, ()))


def test_a_replaced_producer_has_what_it_still_queues_purged_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Its records must not reach the broker after the restore looked for them."""
    old = _BrokenClient()
    producer, _, _ = _producer(failures=0, stop_after=None)
    producer.producer = old  # type: ignore[assignment]

    class Fresh:
        def __init__(self, conf: dict[str, object]) -> None:
            self.inits = 0

        def init_transactions(self, timeout: float) -> None:
            self.inits += 1

    monkeypatch.setattr(processor, "Producer", Fresh)
    producer.replace()
    assert old.purged == [{"in_queue": True, "in_flight": True, "blocking": False}]
    assert getattr(producer.producer, "inits", None) == 1


class _Blocking:
    """A confluent-kafka producer whose blocking calls record the liveness allowance in
    force while they run (what /healthz would grant a loop blocked in them)."""

    def __init__(self, live: Liveness) -> None:
        self.live = live
        self.seen: dict[str, float] = {}

    def _note(self, name: str) -> None:
        self.seen[name] = self.live.allowance

    def flush(self, timeout: float) -> int:
        self._note("flush")
        return 0

    def send_offsets_to_transaction(self, partitions: object, metadata: object,
                                    timeout: float) -> None:
        self._note("send_offsets")

    def commit_transaction(self, timeout: float) -> None:
        self._note("commit")

    def abort_transaction(self, timeout: float) -> None:
        self._note("abort")

    def init_transactions(self, timeout: float) -> None:
        self._note("init")


def test_each_blocking_client_call_is_declared_to_liveness_with_its_bound() -> None:
    """A commit during an outage could block in flush (30 s), send_offsets (45 s), an
    abort (30 s) and a replacement's init_transactions (60 s) in a row without a beat:
    /healthz turned 503 after 60 s and the chart's probe killed the pod mid-wait. Each
    call now declares its bound (Liveness.waiting), and the allowance ends with it."""
    live = Liveness("i1")
    producer = KafkaTxnProducer({"bootstrap.servers": "127.0.0.1:1", "transactional.id": "t"},
                                lambda: None, lambda s: Backoff(s / 1000, 0.001),
                                lambda _t: None, waiting=live.waiting)
    stub = _Blocking(live)
    producer.producer = stub  # type: ignore[assignment]
    producer.init()
    producer.flush(30)
    producer.send_offsets([("t", 0, 1)])
    producer.commit()
    producer.abort()
    assert stub.seen == {"init": processor.INIT_TIMEOUT_S, "flush": 30,
                         "send_offsets": processor.SEND_OFFSETS_DEADLINE_S,
                         "commit": processor.COMMIT_TIMEOUT_S,
                         "abort": processor.ABORT_TIMEOUT_S}
    assert live.allowance == 0.0
