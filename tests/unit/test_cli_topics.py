"""`greekstream topics`: partition counts outside what Kafka can hold are a usage error
(exit 2, one line), before any broker is asked."""

from __future__ import annotations

import pytest

from greekstream import cli
from greekstream.kafka import reach


def _no_broker(*_args: object) -> None:
    raise AssertionError("the broker was asked for a partition count it cannot hold")


@pytest.mark.parametrize("action", ["list", "create"])
@pytest.mark.parametrize("flag", ["--partitions", "--market-partitions"])
@pytest.mark.parametrize("count", ["0", "-1", "2147483648", "99999999999"])
def test_a_partition_count_kafka_cannot_hold_is_a_usage_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        action: str, flag: str, count: str) -> None:
    # 99999999999 reached confluent_kafka's NewTopic: OverflowError, a traceback
    monkeypatch.setattr(reach, "require_broker", _no_broker)
    assert cli.main(["topics", action, flag, count, "--bootstrap", "127.0.0.1:1"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith(f"greekstream topics: error: bad {flag} {count}: ")


def test_the_largest_count_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["topics", "list", "--partitions", "2147483647"]) == 0
    assert "2147483647 partitions" in capsys.readouterr().out
