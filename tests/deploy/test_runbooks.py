"""The runbooks of docs/deploy.md prescribe only what works on the processor as it is."""

from __future__ import annotations

import re

from confluent_kafka import OFFSET_BEGINNING

from greekstream.core.engine import EngineConfig
from greekstream.kafka.checkpoints import Progress, Recovered
from greekstream.kafka.epoch import Epoch
from tests.deploy.conftest import REPO

DEPLOY = (REPO / "docs" / "deploy.md").read_text()


def _section(title: str) -> str:
    (body,) = re.findall(rf"^### {re.escape(title)}\n(.*?)(?=^##)", DEPLOY, re.S | re.M)
    return body


def test_the_poison_record_runbook_does_not_skip_by_resetting_the_group() -> None:
    """A processor resumes each partition where its checkpoints say (Epoch.restore: the
    snapshot's offsets, else the partition's beginning); the consumer group's committed
    offsets are not an input of the restore (_on_assign overwrites them). The runbook told
    operators to skip a crash-looping record with `kafka-consumer-groups --reset-offsets`:
    the processor came back at the same record and crashed again."""
    trades, quotes = "greekstream.trades", ("greekstream.quotes", 0)
    # a partition with a progress but no snapshot, one with nothing: both from the start,
    # whatever offset the group committed for them
    epoch = Epoch.restore(EngineConfig(), [0, 1], [trades], [quotes], 2,
                          {0: Recovered(Progress((5, 0, 0, 1), None), None, 1),
                           1: Recovered(None, None, 0)})
    assert epoch.next_offsets[(trades, 0)] == epoch.next_offsets[(trades, 1)] == OFFSET_BEGINNING

    runbook = _section("Poison record")
    assert "--reset-offsets" not in runbook
    assert "checkpoints" in runbook  # says where the processor resumes instead
