"""Run every bench/bench_*.py in turn, each in its own process, and say how each went.

    .venv/bin/python bench/run_all.py [--quick] [NAME ...]

NAME picks benches by name (``greeks`` or ``bench_greeks``); none means all of them.
``--quick`` is passed on to each bench. Each bench prints its own table; this adds a
header before it and a one-line summary per bench at the end. Exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover(names: list[str]) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if not names:
        return found
    wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in names}
    unknown = wanted - {p.stem for p in found}
    if unknown:
        raise SystemExit(f"no such bench: {', '.join(sorted(unknown))} "
                         f"(have: {', '.join(p.stem for p in found)})")
    return [p for p in found if p.stem in wanted]


def run_one(path: Path, quick: bool) -> tuple[int, float]:
    print(f"\n{'=' * 100}\n== {path.stem}{' (--quick)' if quick else ''}\n{'=' * 100}",
          flush=True)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(path), *(["--quick"] if quick else [])],
                          check=False)
    return proc.returncode, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every bench")
    parser.add_argument("names", nargs="*", help="benches to run (default: all)")
    args = parser.parse_args(argv)
    results = [(path, *run_one(path, args.quick)) for path in discover(args.names)]
    print(f"\n{'=' * 100}\n== summary")
    for path, code, seconds in results:
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"  {path.stem:<24} {status:<18} {seconds:7.1f} s")
    return 1 if any(code for _, code, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
