"""What a processor commits as each partition's progress."""

from __future__ import annotations

from greekstream.core.engine import EngineConfig
from greekstream.kafka.checkpoints import Progress, Recovered
from greekstream.kafka.epoch import Epoch


def test_progress_never_moves_back_behind_the_previous_owner() -> None:
    inherited = (50, 3, 0, 7)
    epoch = Epoch.restore(
        EngineConfig(), [0, 1], ["x.trades"], [("x.quotes", 0)], 2,
        {0: Recovered(Progress(inherited, None), None, 1), 1: Recovered(None, None, 0)})
    assert epoch.committed_position(0) == inherited and epoch.committed_position(1) is None
    epoch.pos = (10, 0, 0, 1)  # behind partition 0's previous owner: keep its progress
    assert epoch.committed_position(0) == inherited
    assert epoch.committed_position(1) == (10, 0, 0, 1)
    epoch.pos = (60, 0, 0, 2)
    assert epoch.committed_position(0) == (60, 0, 0, 2)
