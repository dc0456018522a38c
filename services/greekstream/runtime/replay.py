"""Replay a file (or any iterable of records) through the engine.

The same :class:`~greekstream.core.engine.Engine` serves every runtime; this
module only reads records and collects outputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from greekstream.core.books import ExposureValues
from greekstream.core.decode import decode_event
from greekstream.core.engine import Engine, EngineConfig, Output
from greekstream.core.events import END_TICK, MAX_RECORD_BYTES, DecodeError, Rejected
from greekstream.core.guards import MAX_TS_US
from greekstream.core.timeutil import format_ts
from greekstream.errors import UsageError
from greekstream.runtime.progress import Progress

Record = tuple[bytes, str]
BOM = b"\xef\xbb\xbf"
# of a line too long to be a record, what is kept: enough to reject it (a file's and a live
# input's lines alike); the rest is dropped as it is read, so a file that never breaks its
# line holds ~1 MB, not all of it
KEEP_BYTES = MAX_RECORD_BYTES + 1


def line_body(line: bytes, lineno: int) -> bytes | None:
    """The record a JSONL line holds: without its line break, and on the first line
    without a BOM (editors on Windows write one; it is not JSON); None for a blank line.
    One rule for a file (:func:`read_records`) and a live input (runtime/live_lines.py)."""
    body = line.rstrip(b"\r\n")
    if lineno == 1 and body.startswith(BOM):
        body = body[len(BOM):]
    return body if body.strip() else None


def read_records(path: str | Path, name: str | None = None) -> Iterator[Record]:
    """Yield (raw line, "FILE:LINE") for every non-blank line of a JSONL file; FILE is
    the file's name, or ``name`` (history tells two files of one name apart by it). Of a
    line longer than a record may be, the first :data:`KEEP_BYTES` (its rejection gives
    the size kept)."""
    p = Path(path)
    try:
        handle = p.open("rb")
    except FileNotFoundError as exc:
        raise UsageError(
            f"no such events file: {p}", hint="pass the path of a .jsonl file of events"
        ) from exc
    except OSError as exc:
        raise UsageError(f"cannot read events file {p}: {exc.strerror}") from exc
    name = name or p.name
    with handle:
        for lineno, line in enumerate(iter(lambda: handle.readline(KEEP_BYTES), b""), start=1):
            if len(line) == KEEP_BYTES and not line.endswith(b"\n"):
                while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass  # the rest of a line too long to be a record: dropped as it comes
            body = line_body(line, lineno)
            if body is not None:
                yield body, f"{name}:{lineno}"


@dataclass
class ReplayResult:
    engine: Engine
    outputs: list[Output] = field(default_factory=list)
    as_of_us: int | None = None
    applied: int = 0  # accepted: neither a duplicate nor rejected
    skipped_after_as_of: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # outputs by type

    def exposures(self) -> list[ExposureValues]:
        if self.as_of_us is None:
            return []
        return self.engine.exposures(self.as_of_us)


def _rejected(produced: list[Output]) -> bool:
    return len(produced) == 1 and isinstance(produced[0], Rejected)


OutputSink = Callable[[Output], None]
RecordSink = Callable[[bytes, str], None]
CHUNK = 4096  # records per chunk (decode, then apply)


def replay(
    records: Iterable[Record],
    as_of_us: int | None = None,
    config: EngineConfig | None = None,
    progress: Progress | None = None,
    keep_outputs: bool = True,
    on_output: OutputSink | None = None,
    on_record: RecordSink | None = None,
    prior: Iterable[Record] = (),
    closing_tick: bool = False,
) -> ReplayResult:
    """Apply records in order; with ``as_of_us``, only events at or before it count.

    Streaming: ``on_output`` gets every output as it is produced and ``on_record`` every
    record the replay applies or rejects (all but decodable events after ``as_of_us``),
    so a caller writes as it goes; ``keep_outputs=False`` holds nothing in memory
    (``result.counts`` still counts outputs by type). Without ``as_of_us`` each chunk
    goes through ``Engine.apply_batch``; the end of the input closes the engine's open
    emission window (``Engine.flush``).

    ``prior`` records (a store's history, to append to it) are applied first, silently:
    their outputs are not emitted, counted or kept. With ``closing_tick`` the end of
    the input is a `tick` record at the end of the open window, applied and passed to
    ``on_record`` like any other, instead of a flush: stored, it lets a later append
    and an audit close that window at the same place (docs/history.md).
    """
    engine = Engine(config)
    for chunk in _chunks(prior, CHUNK):
        engine.apply_batch(chunk)
    result = ReplayResult(engine=engine)
    keep = result.outputs.extend if keep_outputs else None
    counts = result.counts
    def emit(produced: list[Output]) -> None:
        for output in produced:
            counts[output.type] += 1
            if on_output is not None:
                on_output(output)
        if keep is not None:
            keep(produced)

    last_source: str | None = None
    for chunk in _chunks(records, CHUNK):
        last_source = chunk[-1][1]
        if as_of_us is None:
            duplicates = engine.duplicates
            produced = engine.apply_batch(chunk)
            # a rejected record gives exactly one `rejected` output
            rejected = sum(1 for o in produced if isinstance(o, Rejected))
            result.applied += len(chunk) - rejected - (engine.duplicates - duplicates)
            if on_record is not None:
                for raw, source in chunk:
                    on_record(raw, source)
            emit(produced)
            if progress is not None:
                progress.advance(len(chunk))
            continue
        for raw, source in chunk:
            try:
                event = decode_event(raw)
            except DecodeError:
                produced = engine.handle(raw, source)
            else:
                if as_of_us is not None and event.ts > as_of_us:
                    result.skipped_after_as_of += 1
                    continue
                duplicates = engine.duplicates
                produced = engine.apply(event, source, raw)
                if engine.duplicates == duplicates and not _rejected(produced):
                    result.applied += 1
            if on_record is not None:
                on_record(raw, source)
            emit(produced)
        if progress is not None:
            progress.advance(len(chunk))
    tick = closing_tick_record(engine, last_source, as_of_us) if closing_tick else None
    if tick is not None:
        emit(engine.apply_batch([tick]))
        if on_record is not None:
            on_record(*tick)
    emit(engine.flush())
    if progress is not None:
        progress.done()
    result.as_of_us = as_of_us if as_of_us is not None else engine.clock
    return result


def closing_tick_record(engine: Engine, last_source: str | None,
                        as_of_us: int | None = None) -> Record | None:
    """The `tick` that closes the engine's open window (at its end), as a record whose
    source follows the input's last one ("FILE:end"): a window tick (``gs-window-end:…``,
    core/events.py), which closes the window and nothing else, as a flush does. None
    when nothing is waiting in the window (no dirty key), there is no window
    (``emit_interval_ms`` 0) or its end is past ``as_of_us`` (that replay ends with a
    flush, as one without history)."""
    end = engine.state.window_end_us
    if end is None or not engine.state.dirty or last_source is None:
        return None
    if as_of_us is not None and end > as_of_us:
        return None
    stream = last_source.rsplit(":", 1)[0]
    at = min(end, MAX_TS_US)  # (a window ending past the accepted range: its last instant)
    tick = {"type": "tick", "event_id": f"{END_TICK}:{stream}:{format_ts(at)}",
            "ts": format_ts(at)}
    return orjson.dumps(tick), f"{stream}:end"


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def count_lines(path: str | Path) -> int | None:
    """Lines in a file (for a progress bar's total), or None if it cannot be read."""
    try:
        with Path(path).open("rb") as handle:
            return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None
