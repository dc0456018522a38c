"""The one `greekstream` command. Each subcommand lives in greekstream/commands/<name>.py
and provides HELP, EXAMPLES, add_arguments(parser) and run(args) -> int; modules are
imported only when their subcommand runs, so `greekstream --help` stays fast.
"""

from __future__ import annotations

import argparse
import ast
import errno
import importlib
import importlib.util
import io
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Protocol, cast

from greekstream.errors import GreekstreamError
from greekstream.runtime import collector

SUBCOMMANDS = (
    "sample", "replay", "demo", "stress", "var", "explain", "returns", "cascade", "topics",
    "produce", "process", "sink", "history", "audit", "exposure", "serve", "report", "keygen",
    "verify", "whatif",
)  # each is greekstream.commands.NAME

_EPILOG = """examples:
  greekstream sample                     # writes events.jsonl: 2 h of a desk's day
  greekstream replay events.jsonl --as-of 2026-03-02T01:30:00Z --format table
  greekstream stress events.jsonl --format table
  greekstream demo                       # the whole day into embedded ClickHouse
  greekstream produce events.jsonl --bootstrap 127.0.0.1:9092
  greekstream process --bootstrap 127.0.0.1:9092
run `greekstream COMMAND --help` for each command's options and examples; every example
runs as written in a folder holding the file `greekstream sample` writes."""


class Command(Protocol):
    """What each greekstream.commands.NAME module provides."""

    HELP: str
    EXAMPLES: str

    def add_arguments(self, p: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(name: str) -> Command:
    return cast(Command, importlib.import_module(f"greekstream.commands.{name}"))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="greekstream",
        description="Event-sourced streaming risk engine for crypto-derivatives desks.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        if only is not None and name != only:
            sub.add_parser(name, help=f"(run `greekstream {name} --help`)")
            continue
        module = _load(name)
        child = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog="examples:\n" + module.EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(child)
        child.set_defaults(_run=module.run)
    return parser


class _ClosedStdout(io.RawIOBase):
    """Standard output when the process started with it closed (`>&-`, sys.stdout None):
    what a command prints fails as an OSError, which says so (an AttributeError traceback
    on ``None`` before); ``greekstream --help`` still prints (argparse falls back to
    stderr when sys.stdout is None, as it stays for a help)."""

    def writable(self) -> bool:
        return True

    def write(self, _data: object) -> int:
        raise OSError(errno.EBADF, CLOSED_STDOUT)


CLOSED_STDOUT = "standard output is closed (>&-)"
_closed_stdout: io.TextIOWrapper | None = None


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stderr is None:  # started with stderr closed (`2>&-`): progress and errors
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - go nowhere
    if sys.stdout is None and not any(a in ("-h", "--help") for a in (argv or sys.argv[1:])):
        global _closed_stdout
        sys.stdout = _closed_stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedStdout()),
                                                       encoding="utf-8")
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before the command runs: importing it takes a second
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    wanted = next((a for a in args_list if not a.startswith("-")), None)
    only = wanted if wanted in SUBCOMMANDS else None
    if args_list[:1] in (["-h"], ["--help"]):  # `greekstream --help stress`: the overview
        only = None
    if only is None and args_list and not any(a in ("-h", "--help") for a in args_list[:1]):
        build_parser(only="__none__").parse_args(args_list)  # prints the usage error
    parser = build_parser(only=only) if only else _overview_parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    collector.tune()
    _quiet_libraries()
    try:
        code = int(args._run(args))
        if sys.stdout is not None:
            sys.stdout.flush()  # (what print() left in the buffer: its errors are ours)
        return code
    except GreekstreamError as exc:
        print(f"greekstream {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        sys.stderr.close()
        return 0
    except OSError as exc:  # where the output goes (`> FILE` on a full disk, ...): not a bug
        _drop_stdout()
        where = f": {exc.filename}" if exc.filename else ""
        hint = ("give it somewhere to write: > FILE, or --out FILE where the command has it"
                if exc.strerror == CLOSED_STDOUT else
                "check the disk its output goes to (> FILE): free space, permissions; then "
                "run it again")
        print(f"greekstream {args.command}: error: {exc.strerror or exc}{where}\n  hint: "
              f"{hint}", file=sys.stderr)
        return 2


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so what is left in its buffer does not fail again when
    Python flushes it at exit (a second message, exit status 120)."""
    with suppress(OSError, ValueError, AttributeError):
        if sys.stdout is _closed_stdout:  # nothing to dup2 onto: /dev/null instead
            sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


# libraries whose log lines would reach a terminal before our own error says the same
# (on a refused connection clickhouse-connect warns "Unexpected Http Driver Exception",
# urllib3 may warn that it retries)
QUIET_LOGGERS = ("clickhouse_connect", "urllib3")


def _quiet_libraries() -> None:
    """No unconfigured log lines of QUIET_LOGGERS: a NullHandler keeps Python's last-resort
    handler from printing their warnings on stderr. A command that configures logging (the
    services' JSON logs, kafka/ops.py) still gets their records, through the root logger."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _overview_parser() -> argparse.ArgumentParser:
    """The top-level help: each command with the first line of its own HELP, read from
    its module's source (importing every command would make `greekstream --help` slow)."""
    parser = build_parser(only="__none__")
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub._choices_actions:
        action.help = _summary(action.dest)
    return parser


def _summary(name: str) -> str:
    """The first line of ``greekstream.commands.NAME.HELP``."""
    spec = importlib.util.find_spec(f"greekstream.commands.{name}")
    text = ""
    if spec is not None and spec.origin is not None:
        for node in ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "HELP" for t in node.targets)):
                with suppress(ValueError):
                    text = str(ast.literal_eval(node.value))
    if not text:  # not a literal: import it
        text = str(getattr(_load(name), "HELP", ""))
    return text.strip().splitlines()[0] if text.strip() else ""


if __name__ == "__main__":
    sys.exit(main())
