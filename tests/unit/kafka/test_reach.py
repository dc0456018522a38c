"""--connect-timeout (kafka/reach.py): a number of seconds librdkafka can take."""

from __future__ import annotations

import argparse

import pytest

from greekstream.errors import UsageError
from greekstream.kafka import reach
from tests.cli import run

BAD = ("1e9", "inf", "-inf", "nan", "0", "-1", "3600.001")


@pytest.mark.parametrize("seconds", BAD)
def test_a_connect_timeout_out_of_range_is_a_usage_error_before_the_broker(
    seconds: str,
) -> None:
    """1e9 s overflowed the int32 milliseconds librdkafka takes its timeouts in (and inf
    or NaN reached it as they were); now refused, with a hint, before any client exists."""
    code, _, err = run("topics", "create", "--bootstrap", "127.0.0.1:1",
                       f"--connect-timeout={seconds}")
    assert code == 2, err
    assert "bad --connect-timeout" in err and "at most 3600" in err and "hint: " in err, err
    # process reads it with the client settings, before it builds its clients
    args = argparse.Namespace(log_level="quiet", connect_timeout=float(seconds))
    with pytest.raises(UsageError, match="bad --connect-timeout"):
        reach.client_overrides(args)


def test_a_connect_timeout_in_range_is_kept() -> None:
    for seconds in (0.001, 60.0, reach.MAX_CONNECT_TIMEOUT_S):
        args = argparse.Namespace(log_level="error", connect_timeout=seconds)
        assert reach.client_overrides(args) == {"log_level": 3}
        assert reach.connect_timeout(seconds) == seconds
