"""Capped exponential backoff: the one way every runtime loop waits before trying again.

The processor (broker not up yet, commit retries, producer replacement, restore after an
abort), the checkpoint reader (an open transaction on a checkpoint partition) and the
history sink (ClickHouse down) all wait ``initial_s``, then twice that, ... at most
``max_s`` (``settings.backoff_max_s`` for the processor). history/ imports this module;
kafka/ never imports history/ (layering: commands -> api -> history -> kafka -> core).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Backoff:
    """``next()`` gives the delay to wait now: ``initial_s`` first, doubled each call,
    never above ``max_s``; ``reset()`` starts again from ``initial_s``."""

    initial_s: float = 0.1
    max_s: float = 5.0
    current: float = field(default=0.0, init=False)

    def next(self) -> float:
        self.current = self.initial_s if not self.current else min(self.current * 2, self.max_s)
        return self.current

    def reset(self) -> None:
        self.current = 0.0

    def retry(self, call: Callable[[], T], errors: tuple[type[Exception], ...],
              on_error: Callable[[Exception, float], None],
              stop: Callable[[], bool] | None = None,
              sleep: Callable[[float], object] = time.sleep) -> T | None:
        """``call()`` until it returns, waiting :meth:`next` after each failure.

        A failure that is not one of ``errors`` propagates at once. For one that is:
        ``stop()`` true ends the retries and returns None (the process is stopping);
        otherwise ``on_error(exc, delay)`` reports it, or raises to give up, and the loop
        sleeps ``delay`` before the next try. The delays start again from ``initial_s``
        on every call of this method."""
        self.reset()
        while True:
            try:
                return call()
            except errors as exc:
                if stop is not None and stop():
                    return None
                delay = self.next()
                on_error(exc, delay)
                sleep(delay)


__all__ = ["Backoff"]
