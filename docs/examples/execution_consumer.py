"""Act on greekstream hedge intents against a venue (docs/execution.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StubVenue:
    """Orders keyed by client order id: placing an id twice is a no-op (idempotent)."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)

    def place(self, client_id: str, instrument: str, side: str, qty: int, limit: float) -> None:
        self.orders.setdefault(client_id, {"instrument": instrument, "side": side,
                                           "quantity": qty, "limit": limit, "state": "open"})

    def cancel(self, client_id: str) -> None:
        if self.orders.get(client_id, {}).get("state") == "open":
            self.orders[client_id]["state"] = "cancelled"


class IntentExecutor:
    """Reads the hedge-intents topic (intents and their statuses, in order per book)."""

    def __init__(self, venue: StubVenue) -> None:
        self.venue, self.closed = venue, set[str]()

    def handle(self, value: bytes) -> None:
        event = json.loads(value)
        if event["type"] == "hedge_intent" and event["intent_id"] not in self.closed:
            self.venue.place(event["intent_id"], event["instrument_id"], event["side"],
                             event["quantity"], event["limit_price"])
        elif event["type"] == "intent_status":
            self.closed.add(event["intent_id"])
            if event["state"] in ("expired", "superseded"):
                self.venue.cancel(event["intent_id"])
