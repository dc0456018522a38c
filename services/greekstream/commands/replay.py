"""`greekstream replay`: apply events through the engine and report exposures.

Records come from a JSONL file, or (``--from-history DSN``) from the raw events stored
in ClickHouse; either way they go through the same engine. ``--history DSN`` also
stores every input record and every output in ClickHouse (the embedded runtime: no
Kafka needed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from greekstream.commands._common import ensure_dir, parse_time_arg, print_json
from greekstream.core.engine import Output
from greekstream.core.events import OUTPUTS, encode
from greekstream.core.term_structure import vega_by_expiry
from greekstream.core.timeutil import format_ts
from greekstream.errors import UsageError
from greekstream.reports.tables import (
    EXPOSURE_FIELDS,
    EXPOSURE_HEADERS,
    exposure_rows,
    print_pnl_table,
    print_table,
)
from greekstream.runtime.progress import Progress
from greekstream.runtime.replay import OutputSink, ReplayResult, count_lines, read_records, replay
from greekstream.runtime.scenario_files import engine_config_from_env

if TYPE_CHECKING:
    from greekstream.history.replay_io import Append, HistoryStream

HELP = "replay events (a JSONL file, or stored history) through the engine; print exposures"
EXAMPLES = """  greekstream replay events.jsonl --format table
  greekstream replay events.jsonl --as-of 2026-03-02T01:30:00Z --format table
  greekstream replay events.jsonl --format table --by expiry   # + vega by expiry
  greekstream replay events.jsonl --out out/   # exposures.jsonl, breaches.jsonl, ...
  greekstream replay events.jsonl --scenarios pm --out out-pm/ --quiet --format table
  greekstream replay events.jsonl --history chdb://$PWD/gs     # also store inputs + outputs
  greekstream replay --from-history chdb://$PWD/gs --out out2/  # re-derive from stored inputs
  greekstream replay --from-history chdb://$PWD/gs \\
      --book desk-a --from 2026-03-02T01:00:00Z --to 2026-03-02T01:30:00Z --format table
  greekstream replay --from-history http://default:secret@clickhouse:8123/greekstream \\
      --book desk-a --from 2026-03-02T00:00:00Z --to 2026-03-02T12:00:00Z --format table

--from-history replays stored input records from the start of history (the state the
window needs) up to --to; --out keeps the outputs with ts in [--from, --to]. --book reads
that book's records plus market data and reorgs. With --as-of, only events at or before
it are applied (and, with --history, stored).

A replay that rejected input records says so on stderr, even with --quiet, in one line:
"replay: N input record(s) rejected: ..." (each is in rejected.jsonl with --out, and in
the store's rejections with --history).

exit status: 0 when the input was replayed, rejected records included (a rejection is an
output like any other); with --strict, 1 when some records were rejected (the outputs are
written and stored all the same); 2 when it could not be replayed (a missing file, a bad
option, an unreachable store).
"""

# output type -> its file in --out (the names are the registry's, core/events.py OUTPUTS)
OUTPUT_FILES = {name: t.file for name, t in OUTPUTS.items()}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("events", nargs="?", help="a .jsonl file, one event per line")
    p.add_argument("--as-of", help="RFC 3339 time (default: the last event's ts)")
    p.add_argument("--format", choices=("json", "table"), default="json")
    p.add_argument("--by", choices=("key", "expiry"), default="key",
                   help="table: `expiry` adds vega by expiry (the term structure) per key")
    p.add_argument("--out", metavar="DIR",
                   help="write every output event, in order, here (each file as NAME.partial, "
                        "renamed when the replay has finished)")
    p.add_argument("--history", metavar="DSN",
                   help="also store every input record and output in ClickHouse "
                        "(chdb:///DIR or http(s)://USER:PASS@HOST:8123/DB; migrates first)")
    p.add_argument("--from-history", metavar="DSN",
                   help="replay the input records stored in this ClickHouse history")
    p.add_argument("--book", help="--from-history: only this book (plus market data)")
    p.add_argument("--from", dest="t_from", metavar="T1",
                   help="--from-history: keep outputs at or after this time")
    p.add_argument("--to", dest="t_to", metavar="T2",
                   help="--from-history: replay events at or before this time")
    p.add_argument("--scenarios", metavar="FILE",
                   help="scenario file (or pm, library) for the risk_matrix "
                        "outputs (default: GREEKSTREAM_ENGINE__SCENARIOS_FILE, else the "
                        "default grid of docs/contract.md), as the processor uses it")
    p.add_argument("--returns", metavar="FILE",
                   help="returns file for the `var` outputs, one per book every "
                        "var_interval_s (default: GREEKSTREAM_ENGINE__RETURNS_FILE, else no "
                        "`var`), as the processor uses it")
    p.add_argument("--quiet", action="store_true",
                   help="no progress or summary on stderr (rejections are still counted)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when any input record was rejected (for scripts: a replay "
                        "that dropped input is not a clean one)")


def run(args: argparse.Namespace) -> int:
    """Outputs are written as they are produced (``--out`` files, ``--history`` batches):
    memory stays flat however long the input is."""
    check_modes(args)
    as_of = parse_time_arg(args.as_of, "--as-of")
    if args.history and not Path(args.events).is_file():
        raise UsageError(f"no such events file: {args.events}")
    with ExitStack() as stack:
        # opened before a long replay, not after it: a bad DSN or --out fails at once
        stream = stack.enter_context(history_stream(args.history)) if args.history else None
        plan = stream.plan_append(Path(args.events)) if stream is not None else None
        if plan is not None and plan.already:
            print(f"replay: {args.events} is stored in {dsn_label(args.history)} already "
                  f"(as {plan.name}); nothing added. Its outputs: greekstream replay "
                  f"--from-history {args.history} --out DIR", file=sys.stderr)
            return 0
        files = stack.enter_context(OutputFiles(args.out)) if args.out else None
        on_output = fan_out(files.write if files else None,
                            stream.add_output if stream else None)
        if args.from_history:
            result = replay_from_history(args, as_of, on_output)
        else:
            prior = stored_inputs(stream, plan, args.quiet)
            progress = Progress("replay", total=count_lines(args.events),
                                enabled=not args.quiet)
            result = replay(read_records(args.events, plan.name if plan else None),
                            as_of_us=as_of, progress=progress,
                            config=engine_config_from_env(args.scenarios, args.returns),
                            keep_outputs=False, on_output=on_output,
                            on_record=stream.add_record if stream else None,
                            prior=prior, closing_tick=stream is not None)
    if stream is not None and not args.quiet:
        print(f"replay: stored {stream.counts['records']:,} input records and "
              f"{stream.counts['outputs']:,} outputs in {dsn_label(args.history)}",
              file=sys.stderr)
    show(result, args.format, args.book, args.by)
    if not args.quiet:
        summary(result)
    return rejections(result, args)


def rejections(result: ReplayResult, args: argparse.Namespace) -> int:
    """A line on stderr, even with --quiet, when the replay rejected input records (without
    --out, nothing else showed them: they were dropped silently); the exit status: 1 for
    that with --strict, else 0."""
    rejected = result.counts.get("rejected", 0)
    if not rejected:
        return 0
    where = [f"{Path(args.out) / OUTPUT_FILES['rejected']}"] if args.out else []
    if args.history or args.from_history:
        where.append(f"the rejections table of {dsn_label(args.history or args.from_history)}")
    kept = (f"each with its reason and source in {' and '.join(where)}" if where
            else "rerun with --out DIR to keep each with its reason and source "
                 "(DIR/rejected.jsonl)")
    print(f"replay: {rejected:,} input record(s) rejected: {kept}", file=sys.stderr)
    return 1 if args.strict else 0


def fan_out(*sinks: OutputSink | None) -> OutputSink | None:
    """One output callback from several (None when there is none)."""
    live = [s for s in sinks if s is not None]
    if len(live) <= 1:
        return live[0] if live else None

    def every(event: Output) -> None:
        for sink in live:
            sink(event)
    return every


def check_modes(args: argparse.Namespace) -> None:
    if args.events and args.from_history:
        raise UsageError("give either an events file or --from-history DSN, not both")
    if not args.events and not args.from_history:
        raise UsageError(
            "nothing to replay: give an events file or --from-history DSN",
            hint="greekstream replay events.jsonl | greekstream replay --from-history DSN",
        )
    if args.history and args.from_history:
        raise UsageError(
            "--history stores a file's replay; it cannot be combined with --from-history",
            hint="to compare re-derived outputs with stored ones, run `greekstream audit DSN`",
        )
    if not args.from_history:
        used = [f for f, v in (("--book", args.book), ("--from", args.t_from),
                               ("--to", args.t_to)) if v is not None]
        if used:
            raise UsageError(f"{', '.join(used)} only apply with --from-history DSN")


# ----------------------------------------------------------------------------- history


def replay_from_history(
    args: argparse.Namespace, as_of: int | None, on_output: OutputSink | None = None
) -> ReplayResult:
    """Re-derive from stored raw events: from the start of history (state) up to --to
    (or --as-of); outputs before --from are dropped."""
    from greekstream.history.asof import check_as_of
    from greekstream.history.audit import in_range
    from greekstream.history.client import connect
    from greekstream.history.migrate import require_schema
    from greekstream.history.replay_io import iter_raw, require_book, time_filter

    t_from = parse_time_arg(args.t_from, "--from")
    t_to = parse_time_arg(args.t_to, "--to")
    time_filter(t_from, t_to)  # refuses an inverted range before connecting
    if as_of is not None and t_from is not None and as_of < t_from:
        raise UsageError("--as-of is before --from: no output of the window would count")
    if as_of is not None and t_to is not None and as_of > t_to:
        raise UsageError("--as-of is after --to: events after --to are not replayed",
                         hint="ask for an --as-of inside [--from, --to], or drop --to")
    sink = on_output
    if on_output is not None and (t_from is not None or t_to is not None):
        def sink(event: Output) -> None:
            if in_range(getattr(event, "ts", None), t_from, t_to):
                on_output(event)
    with connect(args.from_history) as history:
        require_schema(history)
        require_book(history, args.book)
        if as_of is not None:
            check_as_of(history, as_of)
        elif t_to is not None:
            check_as_of(history, t_to, label="--to")
        until = as_of if as_of is not None else t_to  # exposures as of the window's end
        records = iter_raw(history, book=args.book, t_to=until)
        return replay(records, as_of_us=until,
                      progress=Progress("replay", enabled=not args.quiet),
                      config=engine_config_from_env(args.scenarios, args.returns),
                      keep_outputs=False, on_output=sink)


def stored_inputs(stream: HistoryStream | None, plan: Append | None, quiet: bool
                  ) -> Iterator[tuple[bytes, str]]:
    """The inputs a store holds already, in replay order, to continue its engine from
    (an append, history/replay_io.py:Append); nothing for a fresh store."""
    if stream is None or plan is None or not plan.stored:
        return
    from greekstream.history.replay_io import iter_raw

    progress = Progress("restore from history", total=plan.stored, enabled=not quiet)
    for record in iter_raw(stream.history):
        yield record
        progress.advance(1)
    progress.done()


def history_stream(dsn: str) -> HistoryStream:
    from greekstream.history.replay_io import HistoryStream

    return HistoryStream(dsn)


def dsn_label(dsn: str) -> str:
    from greekstream.history.client import parse_dsn

    return str(parse_dsn(dsn))


# ----------------------------------------------------------------------------- outputs


class OutputFiles:
    """One JSONL file per output type in a directory, written as outputs arrive. The
    registry's ``file_always`` files are written even when empty (exposures.jsonl, ...);
    the others (risk_matrices.jsonl, var.jsonl, ...) only when the engine emitted one.

    Each file is written as ``NAME.partial`` and renamed to its name when the replay has
    finished (``close``): a file named ``exposures.jsonl`` is always a whole replay's, never
    the start of one that failed or was killed, and an earlier replay's files in the
    directory stay as they were until this one is complete (then an earlier file of a
    type this replay did not emit is removed: the directory holds one replay's outputs).

    A directory or file that cannot be created or written (``--out`` is a file or under
    one, an output's name is a directory, no permission, a full disk) is a
    :class:`UsageError` naming the path and the system's reason; the files and
    directories this made are removed again."""

    def __init__(self, out: str) -> None:
        self.directory = Path(out)
        self.handles: dict[str, BinaryIO] = {}
        # the outermost directory this creates: an error must leave none of them behind
        self.created: Path | None = None
        # the output files there before this replay (an error leaves them as they were)
        self.existing: set[str] = set()
        try:
            self.created = _first_missing(self.directory)
            self._check()  # before anything is created, truncated or removed
            self.existing = {t.file for t in OUTPUTS.values()
                             if (self.directory / t.file).exists()}
            ensure_dir(out)
            for kind, t in OUTPUTS.items():
                if t.file_always:
                    self._open(kind)
        except OSError as exc:
            self._discard()
            raise _cannot_write(exc, self.directory) from exc
        except BaseException:
            self._discard()
            raise

    def _check(self) -> None:
        """Refuse, before writing, an output path that is there and not a file."""
        if self.directory.exists() and not self.directory.is_dir():
            raise UsageError(f"cannot write --out {self.directory}: it is not a directory",
                             hint=_OUT_HINT)
        for t in OUTPUTS.values():
            for path in (self.directory / t.file, self.directory / f"{t.file}{PARTIAL}"):
                if path.exists() and not path.is_file():
                    raise UsageError(f"cannot write {path}: it is there and not a file",
                                     hint=_OUT_HINT)

    def _partial(self, kind: str) -> Path:
        return self.directory / f"{OUTPUT_FILES[kind]}{PARTIAL}"

    def _open(self, kind: str) -> BinaryIO:
        handle = self.handles[kind] = self._partial(kind).open("wb", buffering=1 << 20)
        return handle

    def write(self, event: Output) -> None:
        try:
            handle = self.handles.get(event.type) or self._open(event.type)
            handle.write(encode(event) + b"\n")
        except OSError as exc:
            raise _cannot_write(exc, self._partial(event.type)) from exc

    def _close_handles(self) -> None:
        """Close every file; the first that could not be written out is raised (after the
        others are closed)."""
        failed: tuple[OSError, Path] | None = None
        for kind, handle in self.handles.items():
            try:
                handle.close()
            except OSError as exc:
                failed = failed or (exc, self._partial(kind))
        if failed is not None:
            raise _cannot_write(*failed) from failed[0]

    def close(self) -> None:
        """Close every file, then give each its name (an earlier replay's file of a type
        this one did not emit is removed)."""
        self._close_handles()
        try:
            for kind in self.handles:
                self._partial(kind).replace(self.directory / OUTPUT_FILES[kind])
            for kind, t in OUTPUTS.items():
                if kind not in self.handles:  # (and a killed replay's partial file)
                    (self.directory / t.file).unlink(missing_ok=True)
                    self._partial(kind).unlink(missing_ok=True)
        except OSError as exc:
            raise _cannot_write(exc, self.directory) from exc

    def _discard(self) -> None:
        """Remove this replay's files, and the directories it created if they are empty;
        an earlier replay's files stay."""
        with suppress(UsageError):
            self._close_handles()
        for kind in self.handles:
            with suppress(OSError):
                self._partial(kind).unlink(missing_ok=True)
            if OUTPUT_FILES[kind] not in self.existing:
                with suppress(OSError):
                    (self.directory / OUTPUT_FILES[kind]).unlink(missing_ok=True)
        if self.created is None:
            return
        for directory in (self.directory, *self.directory.parents):
            with suppress(OSError):
                directory.rmdir()  # (only an empty one)
            if directory == self.created:
                break

    def __enter__(self) -> OutputFiles:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:  # a replay that failed wrote no result: remove its files
            self._discard()
            return
        try:
            self.close()
        except UsageError:
            self._discard()
            raise


PARTIAL = ".partial"  # the suffix of an output file until its replay has finished
_OUT_HINT = "give --out a directory to write into (a new path, or an earlier --out DIR)"


def _first_missing(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist (None: it does)."""
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            break
        missing = p
    return missing


def _cannot_write(exc: OSError, path: Path) -> UsageError:
    where = exc.filename if exc.filename is not None else path
    return UsageError(f"cannot write {where}: {exc.strerror or exc}", hint=_OUT_HINT)


def write_outputs(result: ReplayResult, out: str) -> None:
    """Write a finished replay's kept outputs (see :class:`OutputFiles`)."""
    with OutputFiles(out) as files:
        for event in result.outputs:
            files.write(event)


def show(result: ReplayResult, fmt: str, book: str | None = None, by: str = "key") -> None:
    rows = exposure_rows([r for r in result.exposures() if book is None or r.book == book], None)
    if fmt == "json":
        print_json(rows)
        return
    as_of = format_ts(result.as_of_us) if result.as_of_us is not None else "(no events)"
    print_table(
        EXPOSURE_HEADERS,
        [[r[k] for k in EXPOSURE_FIELDS] for r in rows],
        title=f"exposures as of {as_of}",
    )
    print()
    print_pnl_table(rows, title=f"P&L (USD) as of {as_of}")
    if by == "expiry" and result.as_of_us is not None:
        print()
        terms = [t for t in vega_by_expiry(result.engine, result.as_of_us)
                 if book is None or t["book"] == book]
        print_table(("book", "underlying", "expiry", "vega"),
                    [[t["book"], t["underlying"], t["expiry"], t["vega"]] for t in terms],
                    title=f"vega by expiry (USD per vol point) as of {as_of}")


def summary(result: ReplayResult) -> None:
    counts = result.counts
    parts = ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items())) or "no outputs"
    print(
        f"replay: {result.applied:,} events applied, {result.engine.duplicates:,} duplicates "
        f"ignored, {result.engine.late_quotes:,} late quotes ignored, "
        f"{result.skipped_after_as_of:,} after --as-of; outputs: {parts}",
        file=sys.stderr,
    )


