"""Every example in every `--help` runs as written, in a folder holding only the file
`greekstream sample` writes (events.jsonl).

The examples are parsed out of the help texts, so a new subcommand is covered the day it
is registered in cli.SUBCOMMANDS: write its examples so that they run as written next to
events.jsonl (dates of the sample day, 2026-03-02T00:00Z-02:00Z; bundled files addressed
by preset name, e.g. `--scenarios pm`; a store made by an earlier example of the same help, at chdb://$PWD/...).
A command's examples run in order, in one fresh folder per command, through bash.

Examples that need a server are recognised by what they say (a Kafka --bootstrap, an
http(s):// address, curl, or a long-running command: process, sink, serve) and are listed,
not run; the Kafka and HTTP commands have their own integration tests.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from greekstream import cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

_COMMAND = re.compile(r"^\s{2,}((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)(greekstream|curl|python -m|echo)\b")
_NEEDS_SERVER = re.compile(
    r"--bootstrap|https?://|\bcurl\b|greekstream (?:process|sink|serve|produce|topics create)\b"
)
# run elsewhere, at their own size: `make demo` and tests/integration/test_demo.py
_ELSEWHERE = {"greekstream demo": "the full demo day (tests/integration/test_demo.py runs "
                                  "`demo --events` on the small day)"}


def help_text(name: str | None) -> str:
    parser = cli.build_parser(only=name)
    if name is None:
        return parser.epilog or ""
    (sub,) = (a for a in parser._subparsers._group_actions)  # type: ignore[union-attr]
    return sub.choices[name].format_help()


def examples(text: str) -> list[str]:
    """The shell commands of a help text's `examples:` section (continuations joined)."""
    section = text.split("examples:", 1)[1] if "examples:" in text else ""
    joined = re.sub(r"\\\n\s*", " ", section)  # shell line continuations
    return [line.strip() for line in joined.splitlines() if _COMMAND.match(line)]


def needs_server(cmd: str) -> bool:
    return bool(_NEEDS_SERVER.search(cmd))


NAMES: list[str | None] = [None, *cli.SUBCOMMANDS]


@pytest.fixture(scope="session")
def sample_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    done = _bash("greekstream sample --quiet", folder)
    assert done.returncode == 0, done.stderr
    return folder / "events.jsonl"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    exe = Path(sys.executable).with_name("greekstream")
    assert exe.exists(), f"the greekstream entry point is not installed next to {sys.executable}"
    env["PATH"] = f"{exe.parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    for key in [k for k in env if k.startswith("GREEKSTREAM_")]:
        del env[key]  # the shipped defaults, as a newcomer has them
    return env


def _bash(cmd: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=600, check=False)


def test_every_help_has_examples_and_the_parser_finds_them() -> None:
    for name in NAMES:
        found = examples(help_text(name))
        assert found, f"`greekstream {name or ''} --help` has no examples"
        assert all("SPEC.md" not in c and "shared/" not in c for c in found)


@pytest.mark.parametrize("name", NAMES, ids=lambda n: n or "greekstream")
def test_help_examples_run_as_written(name: str | None, sample_file: Path,
                                      tmp_path: Path) -> None:
    shutil.copy(sample_file, tmp_path / "events.jsonl")
    ran, listed = [], []
    for cmd in examples(help_text(name)):
        if needs_server(cmd) or cmd.split("#")[0].strip() in _ELSEWHERE:
            listed.append(cmd)
            continue
        done = _bash(cmd, tmp_path)
        assert done.returncode == 0, (
            f"`{cmd}` (from `greekstream {name or ''} --help`) exited {done.returncode} in a "
            f"folder holding events.jsonl:\n{done.stdout[-1500:]}\n{done.stderr[-2500:]}")
        assert "Traceback" not in done.stderr, done.stderr[-2500:]
        ran.append(cmd)
    print(f"greekstream {name or ''}: ran {len(ran)}, needs a server: {listed}")
    if name not in ("process", "sink", "serve", "produce"):
        assert ran, f"no example of `greekstream {name or ''} --help` runs without a server"


def test_server_examples_are_recognised() -> None:
    assert needs_server("greekstream produce events.jsonl --bootstrap 127.0.0.1:9092")
    assert needs_server("GREEKSTREAM_X=1 greekstream process")
    assert needs_server("greekstream history migrate http://default:s@clickhouse:8123/g")
    assert not needs_server("greekstream topics list --partitions 12")
    assert not needs_server("greekstream replay events.jsonl --history chdb://$PWD/gs")


_PIPELINE = re.compile(r"^\s{2,}\S[^`]*\|\s*greekstream\b")  # `venue-adapter | greekstream ...`
_REDIRECT = re.compile(r"^[0-9]*[<>]")


def invocations(text: str) -> list[list[str]]:
    """The arguments of every `greekstream ...` in a help's examples, those that need a
    server and those after a pipe included (examples() skips the latter)."""
    section = text.split("examples:", 1)[1] if "examples:" in text else ""
    joined = re.sub(r"\\\n\s*", " ", section)
    found = []
    for line in joined.splitlines():
        if not (_COMMAND.match(line) or _PIPELINE.match(line)):
            continue
        for part in re.split(r"\|\||&&|[|;]", line.split(" #", 1)[0]):
            words = shlex.split(part)
            while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                words.pop(0)
            if words[:1] != ["greekstream"]:
                continue
            args, skip = [], False
            for word in words[1:]:
                if skip:
                    skip = False
                elif _REDIRECT.match(word):
                    skip = _REDIRECT.fullmatch(word) is not None  # `> FILE`: FILE too
                else:
                    args.append(word)
            found.append(args)
    return found


@pytest.mark.parametrize("name", NAMES, ids=lambda n: n or "greekstream")
def test_every_example_parses_those_that_need_a_server_too(name: str | None) -> None:
    """The server examples are listed, not run: a flag renamed or removed since would
    go unnoticed. Each `greekstream ...` of every example is at least what the command's
    parser accepts."""
    found = invocations(help_text(name))
    assert found
    for args in found:
        command = args[0] if args and args[0] in cli.SUBCOMMANDS else None
        try:
            cli.build_parser(only=command).parse_args(args)
        except SystemExit as exc:  # argparse's usage error
            pytest.fail(f"`greekstream {shlex.join(args)}` (from `greekstream {name or ''} "
                        f"--help`) does not parse: exit {exc.code}")


def test_pipelines_and_redirections_are_read() -> None:
    text = ("examples:\n  venue-adapter | greekstream produce - --bootstrap k:9092   # live\n"
            "  greekstream replay e.jsonl --history chdb://$PWD/gs --quiet >/dev/null\n"
            "  greekstream sample --quiet > out.txt 2>&1\n")
    assert invocations(text) == [
        ["produce", "-", "--bootstrap", "k:9092"],
        ["replay", "e.jsonl", "--history", "chdb://$PWD/gs", "--quiet"],
        ["sample", "--quiet"],
    ]
