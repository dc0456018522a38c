"""The demo's wider lending market (commands/demo.py ``_market_loans``): the generated
loans enter the on-chain state as input events, stamped at the replay's end."""

from __future__ import annotations

from greekstream.commands.demo import MARKET_LOANS, _market_loans
from greekstream.core.engine import Engine
from greekstream.core.events import Loan
from tests.unit import builders as b


def test_the_market_loans_are_stamped_at_the_replays_end() -> None:
    """Loan's ``ts`` is a Timestamp: given as its RFC 3339 string (an input event's wire
    form), stored as epoch µs. An int is refused (``timestamp must be an RFC 3339
    string``), so the demo passes the string."""
    engine = Engine()
    for i, raw in enumerate([b.index("i1", 0, 2_000.0, "ETH"), b.index("i2", 0, 1.0, "USDC")]):
        engine.handle(raw, f"t/0/{i}")
    at = b.parse(b.ts(60))
    assert _market_loans(engine, at, "ETH", 2_000.0) == MARKET_LOANS
    loans = [p for p in engine.chain.all_positions() if isinstance(p, Loan)]
    assert len(loans) == MARKET_LOANS and {x.ts for x in loans} == {at}
