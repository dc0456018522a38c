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
        self._check_at = 1024  # look at the clock only every ~1k units
        self._start = self._last = time.monotonic()
        self._drawn = 0  # the count at the last line drawn

    def advance(self, n: int = 1) -> None:
        self.count += n
        if not self.enabled or self.count < self._check_at:
            return
        self._check_at = self.count + 1024
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._draw(now, final=False)

    def refresh(self) -> None:
        """Redraw when due without a new unit (a live input's loop calls it while idle):
        on a terminal the elapsed time moves; a pipe or a log gets a line only when the
        count moved since the last one, so an idle input does not fill it."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= self.every_s and (self.tty or self.count != self._drawn):
            self._last = now
            self._draw(now, final=False)

    def done(self) -> None:
        if self.enabled and (self.count >= 100_000 or now_elapsed(self._start) > 2.0):
            self._draw(time.monotonic(), final=True)

    def _draw(self, now: float, final: bool) -> None:
        self._drawn = self.count
        self.stream.write(("\r" if self.tty else "") + self.line(now - self._start, final)
                          + ("\n" if final or not self.tty else ""))
        self.stream.flush()

    def line(self, elapsed: float, final: bool = False) -> str:
        """The status line: count, rate, elapsed; with a known total, the share done and,
        while running, the ETA (on a terminal also a bar)."""
        elapsed = max(elapsed, 1e-9)
        rate = self.count / elapsed
        if not self.total:
            return (f"{self.label}: {self.count:,} {self.unit} ({rate:,.0f}/s, "
                    f"{elapsed:.1f}s)")
        share = min(self.count / self.total, 1.0)
        bar = ""
        if self.tty:
            filled = int(share * BAR_WIDTH)
            bar = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "] "
        eta = ""
        if not final and rate > 0:
            eta = f", ETA {clock(max(self.total - self.count, 0) / rate)}"
        return (f"{self.label}: {bar}{self.count:,}/{self.total:,} {self.unit} "
                f"{100.0 * share:5.1f}% ({rate:,.0f}/s, {clock(elapsed)}{eta})")


BAR_WIDTH = 30


def clock(seconds: float) -> str:
    """4.2s, 3m07s, 1h02m."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def now_elapsed(start: float) -> float:
    return time.monotonic() - start
