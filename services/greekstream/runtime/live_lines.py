"""Lines of a live input (a pipe, a terminal) as they come: `greekstream produce -`.

A file is read to its end; a pipe from a venue adapter has no end while the market is
open, and a quiet spell must be seen as such (the gateway ticks when its input has been
idle, docs/streaming.md). So the descriptor is waited on with ``select`` for at most a
given time and read in raw chunks, and lines are cut from an own buffer: a partial line
waits there for its end and never blocks the caller. The wall clock is not read here.

A line longer than a record may be (``MAX_RECORD_BYTES``) is not kept whole: its first
``MAX_RECORD_BYTES`` + 1 bytes are, the rest is dropped as it comes, so an input that never
sends a line break holds ~1 MB, not all it sent; the line is still cut at its line break
and rejected as too long (its rejection gives the size kept).
"""

from __future__ import annotations

import os
import select

from greekstream.runtime.replay import KEEP_BYTES, line_body


class LiveLines:
    """The complete lines of descriptor ``fd``, numbered as in a file: "NAME:LINE"."""

    def __init__(self, fd: int, name: str = "stdin", chunk_bytes: int = 1 << 16) -> None:
        self.fd, self.name, self.chunk_bytes = fd, name, chunk_bytes
        self.buffer = bytearray()
        self.lineno = 0  # lines cut so far, blank ones included
        self.eof = False

    def read(self, timeout_s: float) -> list[tuple[bytes, str]]:
        """Wait at most ``timeout_s`` for input; (raw line, "NAME:LINE") of each complete
        non-blank line that came (none on a timeout or a partial line). At the end of the
        input a last line without its line break is a line, as in a file; ``eof`` is then
        set. OSError (a closed descriptor) reaches the caller."""
        if self.eof:
            return []
        ready, _, _ = select.select([self.fd], [], [], max(timeout_s, 0.0))
        if not ready:
            return []
        chunk = os.read(self.fd, self.chunk_bytes)
        if not chunk:
            self.eof = True
            rest = bytes(self.buffer)
            self.buffer.clear()
            return self._cut([rest]) if rest else []
        end = chunk.rfind(b"\n")
        if end < 0:
            self._keep(chunk)
            return []
        first = chunk.find(b"\n")
        self._keep(chunk[:first])  # the end of the partial line
        between = chunk[first + 1:end].split(b"\n") if first < end else []
        lines = [bytes(self.buffer), *between]
        self.buffer.clear()
        self.buffer += chunk[end + 1:]  # (a chunk is far shorter than a record may be)
        return self._cut(lines)

    def _keep(self, part: bytes) -> None:
        """Add to the partial line, up to what a too long line keeps."""
        room = KEEP_BYTES - len(self.buffer)
        if room > 0:
            self.buffer += part[:room]

    def _cut(self, lines: list[bytes]) -> list[tuple[bytes, str]]:
        out = []
        for line in lines:
            self.lineno += 1
            body = line_body(line, self.lineno)  # as a file's line (runtime/replay.py)
            if body is not None:
                out.append((body, f"{self.name}:{self.lineno}"))
        return out
