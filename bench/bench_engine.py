"""Engine throughput on the realistic stream (issue 2).

    .venv/bin/python bench/bench_engine.py            # 1,000,000 events
    .venv/bin/python bench/bench_engine.py --quick    # 200,000 events

The stream is `python -m greekstream.sample --profile bench`: ~70% quotes, ~26% trades,
the rest index/collateral/limits; 2 underlyings, ~2,000 instruments, 50 books.
Figures: decode (JSON → typed events), apply (engine only, pre-decoded), end to end
(decode + apply, as `greekstream replay` does), and the time per quote-driven update.
Goal: > 200,000 events/s on one core.

Issue 12 (GOAL lines for `make bench`): the engine on `bench` with emit_interval_ms 0
(v1 outputs; goal >= 50,000 events/s, 12x the 4,078 measured before the issue), and
decode + apply (``Engine.apply_batch`` on raw records, default emission) on the
`market` profile against a bare ``orjson.loads`` loop over the same records in the same
run (goal >= 500,000 events/s and >= 0.5x the loop). ``--market-events 0`` skips it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson

from goals import goal
from greekstream.core.decode import decode_event
from greekstream.core.engine import Engine, EngineConfig
from greekstream.runtime import collector
from greekstream.runtime.progress import Progress
from greekstream.runtime.replay import read_records
from greekstream.sample import sample_path

GOAL = 200_000
V1_GOAL = 50_000  # issue 12: engine on bench, emit_interval_ms 0
V1_BEFORE = 4_078  # the same figure before issue 12
MARKET_GOAL = 500_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200k events instead of 1M")
    parser.add_argument("--events", type=int, help="this many events (overrides --quick)")
    parser.add_argument("--market-events", type=int,
                        help="market profile events for decode + apply (default 1M, "
                             "--quick 100k; 0 skips)")
    args = parser.parse_args()
    collector.tune()  # the collector as every greekstream command sets it (runtime/collector.py)
    if args.events is not None and args.events < 10_000:  # the bench profile's smallest day
        parser.error(f"--events {args.events}: the bench profile needs at least 10000 "
                     "(try --events 10000, or --quick for 200k)")
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
        ("v1 outputs: emit_interval_ms 0, Greeks, breaches, intents (risk ticks off)",
         EngineConfig(risk_interval_s=1e12, emit_interval_ms=0)),
        ("emit_interval_ms 100 (the default), risk ticks off",
         EngineConfig(risk_interval_s=1e12)),
        ("+ scenario risk every 60 s (the defaults)", EngineConfig()),
    )
    for i, (label, config) in enumerate(runs):
        rate = _run(label, config, events, decode_s)
        if i == 0:
            goal("engine on bench, emit_interval_ms 0", ">= 50,000 events/s (12x today)",
                 float(rate), "events/s", rate >= V1_GOAL, peer="4,078 before issue 12",
                 ratio=rate / V1_BEFORE)
    market_n = args.market_events
    if market_n is None:
        market_n = 100_000 if args.quick else 1_000_000
    if market_n:
        _market(market_n)
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


def _market(n: int) -> None:
    """Decode + apply of raw `market` records (default emission), against a bare
    ``orjson.loads`` loop over the same records, in the same run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "market.jsonl"
        print(f"generating {n:,} market events ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "greekstream.sample", "--profile", "market",
                        "--events", str(n), "--out", str(path)], check=True)
        records = list(read_records(path))
    t = time.perf_counter()
    for raw, _src in records:
        orjson.loads(raw)
    loads_rate = len(records) / (time.perf_counter() - t)
    engine = Engine(EngineConfig())
    outputs = 0
    t = time.perf_counter()
    for lo in range(0, len(records), 4096):
        outputs += len(engine.apply_batch(records[lo:lo + 4096]))
    outputs += len(engine.flush())
    rate = len(records) / (time.perf_counter() - t)
    print(f"\nmarket profile, {len(records):,} events: decode + apply {rate:,.0f} events/s "
          f"({outputs:,} outputs); bare orjson.loads {loads_rate:,.0f} records/s "
          f"(ratio {rate / loads_rate:.3f})")
    goal("engine decode + apply on market", ">= 500,000 events/s, >= 0.5x bare orjson.loads",
         float(rate), "events/s", rate >= MARKET_GOAL and rate >= 0.5 * loads_rate,
         peer="bare orjson.loads loop", ratio=rate / loads_rate)


def _run(label: str, config: EngineConfig, events: list, decode_s: float) -> float:  # type: ignore[type-arg]
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
    outputs.update(o.type for o in engine.flush())  # the end of the input
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
    return total / apply_s


if __name__ == "__main__":
    sys.exit(main())
