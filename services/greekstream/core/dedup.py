"""Which event ids the engine has applied: bounded by event time, exact on restore.

docs/contract.md: a repeated ``event_id`` has no effect. Keeping every id forever makes state (and
every checkpoint) grow with history, so ids are kept for ``dedup_window_s`` of event
time (default 24 h) per scope (a book, or the market):

* an id applied at ts is remembered while ``ts >= clock - window`` (the clock is the
  market's, or a book's own before any market record: EngineState.dedup_clock, never
  another book's); older ids are forgotten, whenever they are physically removed
  (a heap), so the set of ids that count is the same live and after a restore;
* an event with ``ts < clock - window`` is **late** and rejected (``late_event``) before
  the duplicate check: a duplicate older than the window is therefore reported as a
  late record, never applied a second time;
* quotes are not kept here: a quote older than the one in force moves nothing (the
  engine counts it as late), so only the ids of the quotes at the instrument's latest
  quote time are remembered (:class:`QuoteIds`), one small set per instrument.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any

from greekstream.core.timeutil import MICROS_PER_SECOND

DEFAULT_WINDOW_S = 86_400.0


class SeenIds:
    """Event ids per scope with their event time; ids older than the window do not count."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.window_us = round(window_s * MICROS_PER_SECOND)  # (8.2 * 1e6 is 8199999.99...)
        self.ids: dict[str, dict[str, int]] = {}  # scope -> {event_id: ts}
        self._heaps: dict[str, list[tuple[int, str]]] = {}

    def cutoff(self, clock: int | None) -> int | None:
        """Event times below this are late (None: no clock yet)."""
        return None if clock is None else clock - self.window_us

    def contains(self, scope: str, event_id: str, clock: int | None) -> bool:
        ts = self.ids.get(scope, {}).get(event_id)
        if ts is None:
            return False
        cutoff = self.cutoff(clock)
        return cutoff is None or ts >= cutoff

    def add(self, scope: str, event_id: str, ts: int, clock: int | None) -> None:
        ids = self.ids.setdefault(scope, {})
        heap = self._heaps.setdefault(scope, [])
        ids[event_id] = ts
        heapq.heappush(heap, (ts, event_id))
        cutoff = self.cutoff(clock)
        if cutoff is not None:
            while heap and heap[0][0] < cutoff:
                old_ts, old_id = heapq.heappop(heap)
                if ids.get(old_id) == old_ts:
                    del ids[old_id]

    def discard(self, scope: str, event_id: str) -> None:
        """Forget an id (a reorg retracted its event: it may be mined again)."""
        self.ids.get(scope, {}).pop(event_id, None)

    def drop_scopes(self, scope_filter: Callable[[str], bool]) -> None:
        for scope in [s for s in self.ids if scope_filter(s)]:
            del self.ids[scope]
            self._heaps.pop(scope, None)

    def dump(self, scope: str, clock: int | None) -> list[tuple[int, str]]:
        """The ids of a scope that count, as sorted (ts, id) pairs (deterministic; JSON
        arrays in a snapshot)."""
        cutoff = self.cutoff(clock)
        ids = self.ids.get(scope, {})
        if cutoff is None:
            return sorted(zip(ids.values(), ids.keys(), strict=True))
        return sorted([(ts, i) for i, ts in ids.items() if ts >= cutoff])

    def load(self, scope: str, pairs: Iterable[list[Any]]) -> None:
        ids = self.ids.setdefault(scope, {})
        heap = self._heaps.setdefault(scope, [])
        for ts, event_id in pairs:
            ids[event_id] = ts
            heap.append((ts, event_id))
        heapq.heapify(heap)

    def size(self) -> int:
        return sum(len(ids) for ids in self.ids.values())


class QuoteIds:
    """Per instrument, the ids of the quotes applied at its latest quote time."""

    def __init__(self) -> None:
        self.at: dict[str, tuple[int, list[str]]] = {}

    def contains(self, instrument_id: str, event_id: str) -> bool:
        entry = self.at.get(instrument_id)
        return entry is not None and event_id in entry[1]

    def add(self, instrument_id: str, event_id: str, ts: int) -> None:
        entry = self.at.get(instrument_id)
        if entry is None or ts > entry[0]:
            self.at[instrument_id] = (ts, [event_id])
        elif ts == entry[0] and event_id not in entry[1]:
            entry[1].append(event_id)

    def dump(self) -> dict[str, list[Any]]:
        return {iid: [ts, sorted(ids)] for iid, (ts, ids) in sorted(self.at.items())}

    def load(self, doc: dict[str, list[Any]]) -> None:
        self.at = {iid: (ts, list(ids)) for iid, (ts, ids) in doc.items()}
