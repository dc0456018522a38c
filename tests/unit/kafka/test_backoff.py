"""The one capped exponential backoff of the runtime loops (kafka/backoff.py), no broker."""

from __future__ import annotations

import pytest

from greekstream.kafka.backoff import Backoff


def test_delays_double_from_the_first_and_stop_at_the_cap() -> None:
    backoff = Backoff(0.1, 1.0)
    assert [backoff.next() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_reset_starts_again_from_the_first_delay() -> None:
    backoff = Backoff(0.05, 5.0)
    backoff.next(), backoff.next(), backoff.next()
    backoff.reset()
    assert backoff.next() == 0.05


def test_a_cap_below_the_first_delay_still_waits_the_first_delay_once() -> None:
    # the hand-written loops it replaced behaved so (first sleep, then min(delay * 2, cap))
    backoff = Backoff(0.1, 0.05)
    assert [backoff.next() for _ in range(3)] == [0.1, 0.05, 0.05]


class Flaky:
    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_retry_returns_the_result_after_reporting_each_failure_and_sleeping_its_delay() -> None:
    call, reported, slept = Flaky(3, OSError("down")), [], []
    result = Backoff(0.1, 0.3).retry(call, (OSError,), lambda e, d: reported.append((str(e), d)),
                                     sleep=slept.append)
    assert result == "done" and call.calls == 4
    assert reported == [("down", 0.1), ("down", 0.2), ("down", 0.3)]
    assert slept == [0.1, 0.2, 0.3]


def test_retry_starts_from_the_first_delay_on_every_call() -> None:
    backoff, slept = Backoff(0.1, 5.0), []
    backoff.retry(Flaky(2, OSError()), (OSError,), lambda e, d: None, sleep=slept.append)
    backoff.retry(Flaky(1, OSError()), (OSError,), lambda e, d: None, sleep=slept.append)
    assert slept == [0.1, 0.2, 0.1]


def test_on_error_raising_gives_up_without_sleeping() -> None:
    slept: list[float] = []

    def give_up(exc: Exception, delay: float) -> None:
        raise RuntimeError(f"gave up after {exc}")

    call = Flaky(5, OSError("fatal"))
    with pytest.raises(RuntimeError, match="gave up after fatal"):
        Backoff().retry(call, (OSError,), give_up, sleep=slept.append)
    assert call.calls == 1 and slept == []


def test_an_error_not_listed_propagates_at_once() -> None:
    call, reported = Flaky(5, KeyError("other")), []
    with pytest.raises(KeyError):
        Backoff().retry(call, (OSError,), lambda e, d: reported.append(e), sleep=lambda d: None)
    assert call.calls == 1 and reported == []


def test_stop_ends_the_retries_with_none_before_reporting_or_sleeping() -> None:
    stopping, reported, slept = [False], [], []

    def report(exc: Exception, delay: float) -> None:
        reported.append(delay)
        stopping[0] = len(reported) == 2  # the process is asked to stop during the 2nd wait

    call = Flaky(10, OSError())
    result = Backoff(0.1, 5.0).retry(call, (OSError,), report, stop=lambda: stopping[0],
                                     sleep=slept.append)
    assert result is None
    assert call.calls == 3 and reported == [0.1, 0.2] and slept == [0.1, 0.2]
