"""`greekstream demo`: the bundled sample → engine → embedded ClickHouse, with a summary."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from greekstream.commands._common import EXPOSURE_FIELDS, exposure_rows, print_table
from greekstream.core.events import Breach, HedgeIntent
from greekstream.core.timeutil import format_ts
from greekstream.progress import Progress
from greekstream.replay import ReplayResult, read_records, replay

HELP = "replay the bundled sample day through the engine into embedded ClickHouse; summarise"
EXAMPLES = """  greekstream demo
  greekstream demo --out demo-out/          # also keep the output events and the heatmap
  greekstream demo --history chdb:///tmp/gs  # where the embedded ClickHouse lives
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo-out", metavar="DIR",
                   help="directory for output events, the chDB store and plots (default demo-out)")
    p.add_argument("--history", metavar="DSN",
                   help="ClickHouse DSN to write to (default: chdb:///<out>/chdb)")
    p.add_argument("--events", metavar="FILE",
                   help="replay this file instead of the bundled sample")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    events = Path(args.events) if args.events else _sample()
    print(f"== greekstream demo: {events}", file=sys.stderr)
    result = replay(read_records(events), progress=Progress("replay"))
    from greekstream.commands.replay import write_outputs

    write_outputs(result, str(out))
    _history(args.history or f"chdb://{(out / 'chdb').resolve()}", events, result)
    _summary(result)
    _stress(result, out)
    print(f"\noutputs written to {out}/ (exposures.jsonl, breaches.jsonl, ...)")
    return 0


def _sample() -> Path:
    from greekstream.sample import sample_path

    return sample_path("demo")


def _summary(result: ReplayResult) -> None:
    counts = Counter(o.type for o in result.outputs)
    as_of = format_ts(result.as_of_us) if result.as_of_us is not None else "-"
    print(f"\n{result.applied:,} events applied ({result.engine.duplicates} duplicates ignored); "
          f"outputs: " + ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items())))
    rows = exposure_rows(result.exposures(), None)
    print()
    print_table(EXPOSURE_FIELDS, [[r[k] for k in EXPOSURE_FIELDS] for r in rows],
                title=f"Exposures as of {as_of}")
    breaches = [o for o in result.outputs if isinstance(o, Breach)]
    open_now = {b.breach_id: b for b in breaches if b.state == "open"}
    for b in breaches:
        if b.state == "cleared":
            open_now.pop(b.breach_id, None)
    print(f"\nBreaches: {sum(b.state == 'open' for b in breaches)} opened, "
          f"{sum(b.state == 'cleared' for b in breaches)} cleared, {len(open_now)} open now")
    print_table(
        ("opened", "book", "underlying", "metric", "value", "limit"),
        [[format_ts(b.ts), b.book, b.underlying, b.metric, b.value, b.limit]
         for b in open_now.values()],
    )
    intents = [o for o in result.outputs if isinstance(o, HedgeIntent)]
    print(f"\nHedge intents: {len(intents)} (last 10)")
    print_table(
        ("ts", "book", "instrument", "side", "quantity", "delta_before", "delta_after"),
        [[format_ts(i.ts), i.book, i.instrument_id, i.side, i.quantity, i.delta_before,
          i.delta_after] for i in intents[-10:]],
    )


def _history(dsn: str, events: Path, result: ReplayResult) -> None:
    from greekstream.history.replay_io import write_replay

    counts = write_replay(dsn, read_records(events), result.outputs)
    stored = ", ".join(f"{n:,} {table}" for table, n in counts.items())
    print(f"stored in ClickHouse ({dsn}): {stored}", file=sys.stderr)


def _stress(result: ReplayResult, out: Path) -> None:
    from greekstream.commands.stress import stress_reports, summary_lines
    from greekstream.plots import risk_heatmaps

    if result.as_of_us is None:
        return
    reports = stress_reports(result.engine, result.as_of_us)
    print("\nScenario risk (full revaluation, SPEC default grid): worst loss, liquidation distance")
    for line in summary_lines(reports):
        print("  " + line)
    path = risk_heatmaps(reports, out / "risk_heatmap.png", title="greekstream demo")
    print(f"heatmap written to {path}")
