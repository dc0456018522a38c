"""`greekstream verify REPORT --pubkey PUB [--dsn DSN]`: check a signed report and, with
history, every stored output's hash against the chain recomputed from the stored inputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import orjson

from greekstream.commands.report import MAKE_A_REPORT
from greekstream.errors import HistoryQueryError, UsageError
from greekstream.history.client import connect
from greekstream.history.report import Finding, build_report, report_differences, verify_history
from greekstream.reports.signing import load_public, signature_problem
from greekstream.runtime.scenario_files import engine_config_from_env

HELP = ("check a signed end-of-day report (signature; with --dsn also every stored output "
        "against the hash chain recomputed from the stored inputs); exit 1 on any mismatch")
EXAMPLES = MAKE_A_REPORT + """  greekstream verify gs-report-2026-03-02.json --pubkey gs-key.pub
  greekstream verify gs-report-2026-03-02.json --pubkey gs-key.pub \\
      --dsn chdb://$PWD/gs-report
(the first four make a key, a day, its history and its signed report, in this folder)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("report", help="the JSON file written by `greekstream report`")
    p.add_argument("--pubkey", required=True, help="PATH.pub written by `greekstream keygen`")
    p.add_argument("--dsn", help="history to recompute the chain from (chdb:///DIR or http...)")
    p.add_argument("--scenarios", metavar="FILE",
                   help="the scenario file the processor ran with (as for `greekstream audit`)")
    p.add_argument("--returns", metavar="FILE",
                   help="the returns file the processor streamed `var` outputs with "
                        "(default: GREEKSTREAM_ENGINE__RETURNS_FILE, else none; as for "
                        "`greekstream audit`)")


def run(args: argparse.Namespace) -> int:
    key = load_public(args.pubkey)
    doc = _load(args.report)
    problem = signature_problem(doc, key)
    twice = _key_written_twice(Path(args.report).read_bytes())
    if twice is not None:  # the signature covers one reading of the file, not every reader's
        problem = (f"the file writes the key {twice!r} twice in one object: this check read "
                   "the last copy, another reader may take the first (a report greekstream "
                   "writes has each key once: altered)")
    findings: list[Finding] = []
    if args.dsn is not None:
        report = doc.get("report") if isinstance(doc, dict) else None
        with connect(args.dsn) as history:
            findings = verify_history(history, report if isinstance(report, dict) else None,
                                      engine_config_from_env(args.scenarios, args.returns))
            if problem is not None and isinstance(report, dict):
                findings = _name_report_change(history, report) + findings
    if problem is not None:
        if args.dsn is not None and not any(f.kind == "report" for f in findings):
            problem += " (the report matches history: the signature itself was altered)"
        findings.insert(0, Finding("signature", args.report, problem))
    for f in findings:
        print(f"FAIL {f}")
    if not findings:
        scope = " and every stored output against its recomputed chain" if args.dsn else ""
        print(f"OK   signature of {args.report}{scope}")
    return 1 if findings else 0


def _name_report_change(history: Any, report: dict[str, Any]) -> list[Finding]:
    """Which fields of a report whose signature fails differ from history's."""
    try:
        rebuilt = build_report(history, str(report.get("date")))
    except HistoryQueryError:
        return []
    return report_differences(report, rebuilt)


def _key_written_twice(data: bytes) -> str | None:
    """The first key an object of the JSON ``data`` writes twice, or None. JSON readers
    differ on a repeated key (orjson and Python keep the last, others the first), so a
    copy inserted before a signed value would be what some readers see."""
    twice: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for k, _ in items:
            if k in seen and not twice:
                twice.append(k)
            seen.add(k)
        return dict(items)

    try:
        json.loads(data, object_pairs_hook=pairs)
    except ValueError:  # (orjson read it: not JSON that Python refuses, in practice)
        return None
    return twice[0] if twice else None


def _load(path: str) -> Any:
    try:
        return orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {exc.strerror}",
                         hint="pass the file written by `greekstream report --out`") from exc
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON ({exc}): not a report",
                         hint="pass the file written by `greekstream report --out`") from exc
