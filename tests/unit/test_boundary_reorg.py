"""Boundary of a reorg (core/onchain_state.py ``ChainState.retract``), through
Engine.handle.

SPEC and docs/contract.md: a `reorg` retracts every earlier event of its chain with
`block_number >= from_block`, and its effect is undone. An event exactly at
`from_block` is retracted once: it leaves the chain's log, so a second reorg over the
same block has nothing left to undo there; an event below `from_block` stays."""

from __future__ import annotations

import pytest

from greekstream.core.events import Exposure
from tests.unit import builders as b
from tests.unit.test_engine import CALL, base_engine, of, run


def collateral(eid: str, at: float, amount: float, block: int) -> bytes:
    return b.rec("collateral", eid, at, book="desk-a", asset="BTC", amount=amount,
                 chain="eth", block_number=block, tx_hash=f"0x{eid}", log_index=0)


def test_a_second_reorg_over_the_same_block_undoes_nothing_twice() -> None:
    engine = base_engine()
    (exp,) = of(Exposure, run(engine, b.trade("t1", 4, CALL, "buy", 1)))
    delta = exp.delta
    out = run(engine, collateral("c99", 5, 1.0, 99), collateral("c100", 6, 2.0, 100))
    assert of(Exposure, out)[-1].delta_equity - delta == pytest.approx(3.0)
    out = run(engine, b.rec("reorg", "r1", 7, chain="eth", from_block=100))
    assert of(Exposure, out)[-1].delta_equity - delta == pytest.approx(1.0)  # c100 gone
    # the same reorg again (another id): block 100 holds nothing any more
    out = run(engine, b.rec("reorg", "r2", 8, chain="eth", from_block=100))
    after = [e.delta_equity - delta for e in of(Exposure, out)]
    assert all(v == pytest.approx(1.0) for v in after)
    assert engine.collateral[("desk-a", "BTC")] == pytest.approx(1.0)


def test_an_event_at_from_block_is_retracted_and_may_be_mined_again_once() -> None:
    engine = base_engine()
    (exp,) = of(Exposure, run(engine, b.trade("t1", 4, CALL, "buy", 1)))
    delta = exp.delta
    run(engine, collateral("c100", 5, 2.0, 100))
    run(engine, b.rec("reorg", "r1", 6, chain="eth", from_block=100))
    out = run(engine, collateral("c100", 7, 2.0, 100))  # mined again in the new block 100
    assert of(Exposure, out)[-1].delta_equity - delta == pytest.approx(2.0)
    out = run(engine, b.rec("reorg", "r2", 8, chain="eth", from_block=100))
    assert of(Exposure, out)[-1].delta_equity - delta == pytest.approx(0.0)
    assert engine.collateral.get(("desk-a", "BTC"), 0.0) == pytest.approx(0.0)
