"""Engine throughput on the realistic stream (issue 2).

    .venv/bin/python bench/bench_engine.py            # 1,000,000 events
    .venv/bin/python bench/bench_engine.py --quick    # 200,000 events

The stream is `python -m greekstream.sample --profile bench`: ~70% quotes, ~26% trades,
the rest index/collateral/limits; 2 underlyings, ~2,000 instruments, 50 books.
Figures: decode (JSON → typed events), apply (engine only, pre-decoded), end to end
(decode + apply, as `greekstream replay` does), and the time per quote-driven update.
Goal: > 200,000 events/s on one core.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from greekstream.core.decode import decode_event
from greekstream.core.engine import Engine, EngineConfig
from greekstream.progress import Progress
from greekstream.replay import read_records
from greekstream.sample import sample_path

GOAL = 200_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200k events instead of 1M")
    parser.add_argument("--events", type=int, help="this many events (overrides --quick)")
    args = parser.parse_args()
    n = args.events or (200_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        print(f"generating {n:,} events ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "greekstream.sample", "--profile", "bench",
                        "--events", str(n), "--out", str(path)], check=True)
        records = list(read_records(path))
    t = time.perf_counter()
    events = [(decode_event(raw), src) for raw, src in records]
    decode_s = time.perf_counter() - t
    span_h = (events[-1][0].ts - events[0][0].ts) / 3.6e9
    print(f"\nengine on the realistic stream: {len(events):,} events over {span_h:.1f} h of "
          f"event time; decode only {len(events) / decode_s:,.0f} events/s")
    runs = (
        ("Greeks, breaches, intents (risk ticks off)", EngineConfig(risk_interval_s=1e12)),
        ("+ scenario risk every 60 s (the default)", EngineConfig()),
    )
    for label, config in runs:
        _run(label, config, events, decode_s)
    # Issue 7: exposure updates when loans and LP positions are part of the stream: the
    # demo day (options, futures, 8 loans and 2 LPs across 5 books, margin, two oracle
    # sources, a reorg), everything on.
    demo = sample_path("demo")
    t = time.perf_counter()
    onchain = [(decode_event(raw), src) for raw, src in read_records(demo)]
    onchain_decode_s = time.perf_counter() - t
    print(f"\nthe demo day with loans and LP positions: {len(onchain):,} events")
    _run("demo day, everything on", EngineConfig(), onchain, onchain_decode_s)
    return 0


def _run(label: str, config: EngineConfig, events: list, decode_s: float) -> None:  # type: ignore[type-arg]
    print(f"applying: {label} ...", file=sys.stderr)
    engine = Engine(config)
    outputs: Counter[str] = Counter()
    quote_s = 0.0
    quotes = 0
    progress = Progress("apply", total=len(events))
    t = time.perf_counter()
    for ev, src in events:
        if ev.type == "quote":
            q0 = time.perf_counter()
            outputs.update(o.type for o in engine.apply(ev, src))
            quote_s += time.perf_counter() - q0
            quotes += 1
        else:
            outputs.update(o.type for o in engine.apply(ev, src))
        progress.advance()
    progress.done()
    apply_s = time.perf_counter() - t
    total = len(events)
    e2e = total / (decode_s + apply_s)
    print(f"\n  {label}: {sum(outputs.values()):,} outputs "
          + "(" + ", ".join(f"{k} {v:,}" for k, v in sorted(outputs.items())) + ")")
    print(f"    apply only           {total / apply_s:>12,.0f} events/s, "
          f"{outputs['exposure'] / apply_s:,.0f} exposure updates/s")
    print(f"    decode + apply       {e2e:>12,.0f} events/s   goal {GOAL:,}  "
          f"ratio {e2e / GOAL:.3f}")
    print(f"    quote-driven update  {quote_s / max(quotes, 1) * 1e6:>12.1f} µs per quote "
          "(incl. amortised periodic revaluation)")


if __name__ == "__main__":
    sys.exit(main())
