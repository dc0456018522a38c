"""`--profile market --events N` writes at least N events, as its help says."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.sample import market_stream as ms
from greekstream.sample import write_sample

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("whole_seconds", [1, 2, 5])
def test_market_writes_at_least_the_events_asked_for(whole_seconds: int,
                                                     tmp_path: Path) -> None:
    """The number of seconds came from an estimate of ~10,059 events a second, but a second
    holds 10,008 quotes and index prints plus a Poisson draw of ~50 trades and a collateral
    or limit change now and then (~10,058.3 on average): an N at a whole number of
    estimated seconds came out short (69,629 events for --events 69,632)."""
    probe = ms.MarketStream(7, 10_000)
    opening = probe.total - probe.seconds * ms.per_second()
    events = opening + whole_seconds * ms.per_second()
    path = tmp_path / "m.jsonl"
    n = write_sample(path, "market", seed=7, events=events, show_progress=False)
    assert n == len(path.read_bytes().splitlines())
    assert n >= events
    assert n - events < 2 * ms.per_second()  # no more than the second that reaches N
