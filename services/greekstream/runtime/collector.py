"""The cyclic garbage collector, set for a streaming engine.

CPython's default thresholds (700, 10, 10) run a young-generation collection every 700
net allocations of containers. The engine allocates several per record (decoded events,
output models, their dicts), and on the `market` profile those collections took 19% of
the engine's time (measured with ``gc.callbacks``; docs/engine.md, "The garbage
collector"). Reference counting frees almost everything the engine makes; the collector
only reclaims cycles, so running it every 100,000 allocations changes no result and no
output, only when cyclic garbage is reclaimed.

Every ``greekstream`` command calls :func:`tune` before it runs (cli.py), and the
benches call it to measure the engine as the command runs it.
"""

from __future__ import annotations

import gc

THRESHOLDS = (100_000, 50, 1000)  # young, middle, old (gc.set_threshold)


def tune() -> None:
    """Collect cycles every 100,000 net container allocations instead of every 700."""
    gc.set_threshold(*THRESHOLDS)


__all__ = ["THRESHOLDS", "tune"]
