"""Hedge intent lifecycle (docs/contract.md part 2 "Hedge intent lifecycle"; docs/execution.md).

Pricing of an intent and the bookkeeping that closes every intent exactly once:
``filled`` (a trade of the book on the hedge instrument), ``expired`` (event time
reached ``expires_at``), ``superseded`` (a `limits` event changed the hedge policy
while it was pending).

Expiry is checked before each record is applied, in event time: a market record
(every processor instance reads all of them) expires every due intent; a book record
only that book's. So an intent expires at the same record in a replay and in a
stream, whichever instance owns the book.
"""

from __future__ import annotations

from dataclasses import dataclass

from greekstream.core.valuation import InstrumentState

BPS = 1e-4


@dataclass(frozen=True, slots=True)
class IntentPrice:
    reference_price: float | None
    limit_price: float | None
    est_cost_usd: float | None


def price_intent(inst: InstrumentState, value_per_coin: float | None, side: str,
                 contracts: int, bid_ask: tuple[float | None, float | None] | None,
                 slippage_bps: float) -> IntentPrice:
    """reference = mid of the latest bid/ask (both > 0), else the mark (an option's
    Black-76 value), USD per coin; limit = reference ± slippage against the side;
    cost = half the spread (else the slippage) × the quantity's notional."""
    bid, ask = bid_ask if bid_ask is not None else (None, None)
    spread = bid is not None and ask is not None and bid > 0 and ask >= bid
    if spread:
        assert bid is not None and ask is not None
        reference: float | None = (bid + ask) / 2.0
    else:
        reference = value_per_coin if inst.is_option else inst.mark
    if reference is None or reference <= 0:
        return IntentPrice(None, None, None)
    sign = 1.0 if side == "buy" else -1.0
    limit = reference * (1.0 + sign * slippage_bps * BPS)
    if spread:
        assert bid is not None and ask is not None
        per_coin = (ask - bid) / 2.0
    else:
        per_coin = reference * slippage_bps * BPS
    coins = abs(contracts) * inst.contract_size
    if inst.inverse and not inst.is_option:  # contract_size is USD face value
        coins /= reference
    return IntentPrice(reference, limit, per_coin * coins)


Key = tuple[str, str]


class IntentTracker:
    """Expiry times of the pending intents (mirrors BookRisk.pending; rebuilt on restore)."""

    def __init__(self) -> None:
        self.expiries: dict[Key, int] = {}
        self.next_us: int | None = None

    def opened(self, key: Key, expires_us: int) -> None:
        self.expiries[key] = expires_us
        if self.next_us is None or expires_us < self.next_us:
            self.next_us = expires_us

    def closed(self, key: Key) -> None:
        if self.expiries.pop(key, None) is not None:
            self.next_us = min(self.expiries.values(), default=None)

    def due(self, ts: int, book: str | None) -> list[Key]:
        """Keys whose intent expires at or before ``ts`` (only ``book``'s unless None),
        in expiry then key order."""
        if self.next_us is None or ts < self.next_us:
            return []
        return sorted((k for k, exp in self.expiries.items()
                       if exp <= ts and (book is None or k[0] == book)),
                      key=lambda k: (self.expiries[k], k))


def policy(limits: object) -> tuple[object, ...]:
    """The fields of a `limits` event that make its hedge policy."""
    return tuple(getattr(limits, f, None) for f in (
        "hedge_instrument", "hedge_band", "hedge_target", "hedge_basis", "hedge_timeout_s",
        "hedge_slippage_bps", "regime_scale"))


__all__ = ["IntentPrice", "IntentTracker", "policy", "price_intent"]
