"""What the sink logs when it drops its batch at a rebalance (history/sink.py _on_revoke).

A revoke stores the batch, then commits it. When only the commit is refused (the member
fenced: ILLEGAL_GENERATION), the rows are in ClickHouse and the next owner reads them
again (they collapse); the warning said "dropping an unstored batch", which told an
operator that records were not stored. It says which of the two failed now.
"""

from __future__ import annotations

import pytest

from tests.unit.history.test_sink_rebalance import (
    CountingHistory,
    RebalancingConsumer,
    sink_over,
    stored_offsets,
)

pytestmark = pytest.mark.timeout(60)


def test_a_refused_commit_at_a_revoke_says_the_batch_is_stored(
        caplog: pytest.LogCaptureFixture) -> None:
    history = CountingHistory()
    consumer = RebalancingConsumer(total=10, rebalance_at=3)
    sink = sink_over(consumer, history, rows=8)
    sink.step()
    assert stored_offsets(history) >= {0, 1}  # stored at the revoke, not committed
    revoke = [r.getMessage() for r in caplog.records if "rebalance" in r.getMessage()]
    assert len(revoke) == 1
    assert "unstored" not in revoke[0] and "stored" in revoke[0], revoke


def test_a_failed_store_at_a_revoke_says_the_batch_is_not_stored(
        caplog: pytest.LogCaptureFixture) -> None:
    history = CountingHistory()
    history.down = True
    consumer = RebalancingConsumer(total=10, rebalance_at=3)
    sink = sink_over(consumer, history, rows=8)
    for _ in range(2):
        sink._add(consumer.consume(1, 0)[0])
    consumer.on_revoke(consumer, [])
    revoke = [r.getMessage() for r in caplog.records if "rebalance" in r.getMessage()]
    assert len(revoke) == 1 and "not stored" in revoke[0], revoke
