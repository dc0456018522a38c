"""`greekstream audit`: re-derive outputs from stored raw events and compare with history."""

from __future__ import annotations

import argparse
import sys

from greekstream.commands._common import parse_time_arg
from greekstream.history.audit import audit
from greekstream.history.client import connect
from greekstream.runtime.scenario_files import engine_config_from_env

HELP = "re-derive every output from stored input events and print each divergence (exit 1)"
EXAMPLES = """  greekstream replay events.jsonl --history chdb://$PWD/gs --quiet >/dev/null
  greekstream audit chdb://$PWD/gs
  greekstream audit chdb://$PWD/gs --from 2026-03-02T01:00:00Z --to 2026-03-02T01:30:00Z
  greekstream audit http://default:secret@clickhouse:8123/greekstream \\
      --from 2026-03-02T00:00:00Z --to 2026-03-02T23:59:59Z
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dsn", help="chdb:///DIR or http(s)://USER:PASS@HOST:8123/DB")
    p.add_argument("--from", dest="t_from", help="compare outputs at or after this time")
    p.add_argument("--to", dest="t_to", help="compare outputs at or before this time")
    p.add_argument("--scenarios", metavar="FILE",
                   help="the scenario file the processor streamed risk matrices with "
                        "(default: GREEKSTREAM_ENGINE__SCENARIOS_FILE, else the default grid "
                        "of docs/contract.md)")
    p.add_argument("--returns", metavar="FILE",
                   help="the returns file the processor streamed `var` outputs with "
                        "(default: GREEKSTREAM_ENGINE__RETURNS_FILE, else none)")


def run(args: argparse.Namespace) -> int:
    t_from = parse_time_arg(args.t_from, "--from")
    t_to = parse_time_arg(args.t_to, "--to")
    with connect(args.dsn) as history:
        divergences = audit(history, t_from, t_to,
                           config=engine_config_from_env(args.scenarios, args.returns))
    for d in divergences:
        print(d)
    verdict = f"{len(divergences)} divergence(s)" if divergences else "no divergence"
    print(f"audit of {history.target}: {verdict}", file=sys.stderr)
    return 1 if divergences else 0

