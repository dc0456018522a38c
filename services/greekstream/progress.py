"""Progress on stderr for long-running commands: a counter line redrawn in place on a
terminal, a line every few seconds otherwise. The wall clock is used only here, for
display; it never reaches the engine."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self, label: str, total: int | None = None, unit: str = "events",
        stream: TextIO | None = None, every_s: float = 0.5, enabled: bool = True,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = every_s if self.tty else 5.0
        self.enabled = enabled
        self.count = 0
        self._start = self._last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.count += n
        if not self.enabled or self.count & 1023:
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._draw(now, final=False)

    def done(self) -> None:
        if self.enabled and (self.count >= 100_000 or now_elapsed(self._start) > 2.0):
            self._draw(time.monotonic(), final=True)

    def _draw(self, now: float, final: bool) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.count / elapsed
        of = f"/{self.total:,}" if self.total else ""
        pct = f" {100.0 * self.count / self.total:5.1f}%" if self.total else ""
        line = f"{self.label}: {self.count:,}{of} {self.unit}{pct} ({rate:,.0f}/s, {elapsed:.1f}s)"
        end = "\n" if final or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()


def now_elapsed(start: float) -> float:
    return time.monotonic() - start
