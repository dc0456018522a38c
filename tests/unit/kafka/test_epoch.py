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


def test_a_record_the_runtime_fails_on_is_rejected_and_passed() -> None:
    from collections import Counter

    from greekstream.kafka.merge import Record

    epoch = Epoch.restore(
        EngineConfig(), [0, 1], ["x.trades"], [("x.quotes", 0)], 2,
        {0: Recovered(Progress((5, 0, 0, 1), None), None, 1), 1: Recovered(None, None, 0)})
    old = Record((3, 1, 0, 9), b"{}", b"desk-a", "x.trades", 0, 9, 0)
    assert epoch.poison(old, ValueError("x")) == []  # committed by the previous owner
    rec = Record((7, 1, 1, 4), b'{"x":1}', b"desk-b", "x.trades", 1, 4, 0)
    (e,) = epoch.poison(rec, ValueError("broken header"))
    assert e.output.type == "rejected" and e.output.reason == "internal_error"
    assert "broken header" in e.output.detail and e.partition == 1
    assert epoch.pos == rec.pos and epoch.next_offsets[("x.trades", 1)] == 5
    # an output already visible past the progress (Tansu) is skipped once per copy
    epoch.visible = {1: {rec.pos: Counter({("t", b"v"): 1})}}
    assert epoch.already_visible(e, "t", b"v") and not epoch.already_visible(e, "t", b"v")


def test_a_partition_whose_checkpoint_is_at_its_progress_is_caught_up_before_it_loads() -> None:
    """Partition 1's checkpoint is at its committed progress and no record follows it (the
    input ended): nothing is left to re-apply there, even though the merge never passes
    the checkpoint to load it. Partition 0, restored from the start, is caught up once
    the merge reaches its progress."""
    from greekstream.kafka.checkpoints import Snapshot

    engine_state = Epoch.restore(EngineConfig(), [0], ["x.trades"], [("x.quotes", 0)], 2,
                                 {0: Recovered(None, None, 0)}).engine.snapshot()
    end = (1401, 1, 1, 19)
    snap = Snapshot(end, {"x.trades": 20}, {"x.quotes/0": 0}, [], engine_state, engine_state)
    epoch = Epoch.restore(
        EngineConfig(), [0, 1], ["x.trades"], [("x.quotes", 0)], 2,
        {0: Recovered(Progress((900, 1, 0, 7), None), None, 1),
         1: Recovered(Progress(end, 3), snap, 2)})
    assert epoch.pending and not epoch.caught_up()  # partition 0 re-applies up to 900
    assert not epoch.newly_caught_up()
    epoch.pos = (900, 1, 0, 7)
    assert epoch.caught_up()
    assert epoch.newly_caught_up() and not epoch.newly_caught_up()  # said once (logged)
    behind = Epoch.restore(
        EngineConfig(), [1], ["x.trades"], [("x.quotes", 0)], 2,
        {1: Recovered(Progress((1500, 1, 1, 30), None), snap, 2)})
    behind.pos = None
    assert not behind.caught_up()  # its checkpoint is older than its progress


def test_records_reach_the_engine_through_the_epoch_in_merge_order() -> None:
    from greekstream.kafka.merge import Record

    quotes, trades = ("x.quotes", 0), ("x.trades", 0)
    epoch = Epoch.restore(EngineConfig(), [0], ["x.trades"], [quotes], 1,
                          {0: Recovered(None, None, 0)})
    assert epoch.reads(quotes) and epoch.reads(trades)
    assert not epoch.reads(("x.trades", 1))  # a partition this epoch does not own
    late = Record((20, 1, 0, 0), b"{}", b"desk", "x.trades", 0, 0, 0)
    early = Record((10, 0, 0, 0), b"{}", None, "x.quotes", 0, 0, 0)
    epoch.push(late)
    assert epoch.buffered == 1 and epoch.next_record() is None  # the quotes may come first
    epoch.push(early)
    assert epoch.buffered == 2 and epoch.next_record() == early
    assert epoch.next_record() is None  # quotes drained: they may still hold an earlier one
    epoch.push(Record((30, 0, 0, 1), b"", None, "x.quotes", 0, 1, 0, is_mark=True))
    assert epoch.next_record() == late and epoch.buffered == 1
