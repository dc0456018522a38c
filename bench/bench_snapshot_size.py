"""Snapshot size under a quote storm: bytes after 100k and after 1M quotes (issue 11).

    .venv/bin/python bench/bench_snapshot_size.py            # 100k and 1M quotes
    .venv/bin/python bench/bench_snapshot_size.py --quick    # 10k and 100k

Quotes of one held option, ten a second of event time, through `Engine.apply` (decoded
once per quote); a trade and an index every 1,000 quotes keep the dedup set busy. With
the dedup window (24 h) the snapshot holds the ids of the last day only, and quotes not
at all (core/dedup.py): its size follows books and instruments, not history.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests/
from tests.unit import builders as b

from greekstream.core.engine import Engine
from greekstream.core.events import decode_event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k quotes")
    args = parser.parse_args()
    marks = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    engine = Engine()
    for raw in (b.option("C60", 60000), b.perp(), b.index("x0", 1, 61000),
                b.quote_opt("q0", 2, "C60", 61200, 0.62), b.trade("t0", 3, "C60", "buy", 2)):
        engine.handle(raw, "setup")
    quote = decode_event(b.quote_opt("q", 0, "C60", 61000, 0.6))
    start, i, started = quote.ts, 0, time.perf_counter()
    for mark in marks:
        while i < mark:
            ts = start + i * 100_000
            engine.apply(quote.model_copy(update={"event_id": f"q{i}", "ts": ts,
                                                  "underlying_price": 61000.0 + i % 50}), "q")
            if i % 1000 == 0:
                for raw in (b.trade(f"t{i}", (ts - start) / 1e6, "C60", "buy", 1),
                            b.index(f"x{i}", (ts - start) / 1e6, 61000 + i % 7)):
                    engine.handle(raw, "b")
            i += 1
        blob = engine.snapshot()
        doc = orjson.loads(blob)
        seen = len(doc["market"]["seen"]) + sum(len(v) for v in doc["seen"].values())
        print(f"after {mark:>9,} quotes: snapshot {len(blob):>8,} bytes, {seen:,} ids kept, "
              f"{time.perf_counter() - started:.0f} s so far")


if __name__ == "__main__":
    main()
