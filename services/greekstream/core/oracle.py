"""The oracle guard: which index price to trust, and when a valuation's price is suspect.

Rules (documented in docs/onchain.md; all times are event times in epoch µs):

* Every ``index`` event is an observation of (underlying, source, price, ts); an event
  without ``source`` is the source ``default``. The latest observation per source is kept.
* **Trust.** An index without ``source`` is a plain docs/contract.md index and always trusted
  (docs/contract.md: the latest index is the price); the guard below is for sourced feeds.
  The first observation of an underlying is trusted. Later, an observation is
  trusted when |price − trusted| / trusted ≤ ``max_jump``; otherwise it is *held* (the
  trusted price stays) until it is *confirmed*: an observation is also trusted when
  another source's latest observation, at most ``max_age`` old, lies within
  ``tolerance`` of it (relative difference |a − b| / min(a, b)).
* **Stale.** The trusted price is stale when it was last confirmed more than
  ``max_age`` before the valuation time.
* **Divergence.** Two sources diverge when their latest observations, both at most
  ``max_age`` old, differ by more than ``tolerance`` (relative, as above). Held
  observations count: a jump that only one source reports is a divergence.
* **Breach.** A key (e.g. a book and underlying) flagged stale or divergent opens one
  ``oracle`` breach; it clears once when neither flag holds (:meth:`OracleState.transition`).

The state holds values only and round-trips through plain dicts for snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from greekstream.core.records import record
from greekstream.core.timeutil import MICROS_PER_SECOND

DEFAULT_SOURCE = "default"


@dataclass(frozen=True)
class OracleConfig:
    tolerance: float = 0.01
    max_age_s: float = 300.0
    max_jump: float = 0.10

    @classmethod
    def of(cls, settings: Any) -> OracleConfig:
        """From any object with ``oracle_tolerance``, ``oracle_max_age_s``, ``oracle_max_jump``
        (EngineSettings, EngineConfig)."""
        return cls(settings.oracle_tolerance, settings.oracle_max_age_s, settings.oracle_max_jump)

    @property
    def max_age_us(self) -> int:
        return round(self.max_age_s * MICROS_PER_SECOND)  # (8.2 * 1e6 is 8199999.99...)


@dataclass(frozen=True)
class Observation:
    price: float
    ts: int


@dataclass(frozen=True)
class Observed:
    """What one observation did: ``trusted`` says whether ``price`` became the trusted price."""

    trusted: bool
    price: float | None  # the trusted price after the observation
    confirmed_by: str | None = None  # the other source that confirmed a jump, if any


@record
class OracleStatus:
    stale: bool
    divergence: bool
    age_s: float | None  # age of the trusted price at the valuation time
    spread: float | None  # largest relative difference between fresh sources

    @property
    def flagged(self) -> bool:
        return self.stale or self.divergence


UNOBSERVED = OracleStatus(False, False, None, None)


def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / min(a, b)


@dataclass
class OracleState:
    config: OracleConfig = field(default_factory=OracleConfig)
    trusted: dict[str, Observation] = field(default_factory=dict)
    latest: dict[str, dict[str, Observation]] = field(default_factory=dict)
    open_breaches: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------ observations

    def observe(self, underlying: str, source: str | None, price: float, ts: int) -> Observed:
        """Record an index observation; say whether its price is now the trusted one."""
        src = source or DEFAULT_SOURCE
        seen = self.latest.setdefault(underlying, {})
        seen[src] = Observation(price, ts)
        current = self.trusted.get(underlying)
        if source is None:  # a plain docs/contract.md index: the latest index is the price
            return self._trust(underlying, price, ts)
        if current is None or abs(price - current.price) <= self.config.max_jump * current.price:
            return self._trust(underlying, price, ts)
        witness = self._confirming_source(underlying, src, price, ts)
        if witness is not None:
            return self._trust(underlying, price, ts, witness)
        return Observed(False, current.price)

    def _trust(self, underlying: str, price: float, ts: int,
               witness: str | None = None) -> Observed:
        self.trusted[underlying] = Observation(price, ts)
        return Observed(True, price, witness)

    def _confirming_source(self, underlying: str, src: str, price: float, ts: int) -> str | None:
        for other, obs in sorted(self.latest[underlying].items()):
            fresh = ts - obs.ts <= self.config.max_age_us
            if other != src and fresh and relative_difference(obs.price, price) <= \
                    self.config.tolerance:
                return other
        return None

    # ------------------------------------------------------------------ status and breaches

    def status(self, underlying: str, now_ts: int) -> OracleStatus:
        """Flags of a valuation of ``underlying`` at ``now_ts`` (event time)."""
        trusted = self.trusted.get(underlying)
        if trusted is None:
            return UNOBSERVED
        age_us = now_ts - trusted.ts
        fresh = [o.price for o in self.latest.get(underlying, {}).values()
                 if now_ts - o.ts <= self.config.max_age_us]
        spread = relative_difference(max(fresh), min(fresh)) if len(fresh) > 1 else None
        return OracleStatus(
            stale=age_us > self.config.max_age_us,
            divergence=spread is not None and spread > self.config.tolerance,
            age_s=age_us / MICROS_PER_SECOND,
            spread=spread,
        )

    def transition(self, key: str, flagged: bool) -> Literal["open", "cleared"] | None:
        """The oracle breach of ``key``: "open" once when flagged, "cleared" once after."""
        if flagged and key not in self.open_breaches:
            self.open_breaches.add(key)
            return "open"
        if not flagged and key in self.open_breaches:
            self.open_breaches.discard(key)
            return "cleared"
        return None

    # ------------------------------------------------------------------ snapshots

    def to_dict(self) -> dict[str, Any]:
        """Plain, deterministic values (sorted keys); the config is not state."""
        return {
            "trusted": {u: [o.price, o.ts] for u, o in sorted(self.trusted.items())},
            "latest": {
                u: {s: [o.price, o.ts] for s, o in sorted(by_source.items())}
                for u, by_source in sorted(self.latest.items())
            },
            "open_breaches": sorted(self.open_breaches),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: OracleConfig | None = None) -> OracleState:
        return cls(
            config=config or OracleConfig(),
            trusted={u: Observation(float(p), int(t)) for u, (p, t) in data["trusted"].items()},
            latest={
                u: {s: Observation(float(p), int(t)) for s, (p, t) in by_source.items()}
                for u, by_source in data["latest"].items()
            },
            open_breaches=set(data["open_breaches"]),
        )
