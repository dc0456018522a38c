"""Greeks kernel speed: options/s for value, delta, gamma, vega and theta, against peers.

    .venv/bin/python bench/bench_greeks.py [--quick] [--no-peer-setup]

Measured in the same run, on the same random options (a Deribit-like chain: forwards
near 60,000, strikes within ±60%, 10 minutes to 2 years, vol 20%–150%, calls and puts):

* greekstream ``black76`` (numpy + scipy ndtr) at 1e3, 1e5, 1e6 options;
* a numba ``@njit`` loop of the same formulas (bench/numba_black76.py), serial and
  parallel: the per-core ceiling;
* ``vollib.black`` + ``vollib.black.greeks.analytical`` (scalar; r = 0; its vega is per
  vol point and its theta per calendar day, as ours), timed on a subsample;
* ``py-vollib-vectorized`` 0.1.1, in a subprocess with its own venv (.cache/pvv, made
  on first use), because importing it patches vollib's functions. On Python 3.11 its
  numba code does not compile ("runaway recursion" in its Black price); the bench says
  so, and times it with the JIT disabled as an aside, outside the ratios.

Rates are best of N repetitions (time.perf_counter). Progress goes to stderr, the
table to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import numba_black76
from greekstream.core.greeks import black76, black76_scalar

ROOT = Path(__file__).resolve().parents[1]
PVV_VENV = ROOT / ".cache" / "pvv"
SIZES = (1_000, 100_000, 1_000_000)


def progress(msg: str) -> None:
    print(f"[bench_greeks] {msg}", file=sys.stderr, flush=True)


def chain(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    forward = 60_000.0 * np.exp(rng.normal(0.0, 0.05, n))
    return {
        "forward": forward,
        "strike": np.round(forward * rng.uniform(0.4, 1.6, n), -2),
        "years": np.exp(rng.uniform(math.log(10 / 525_600), math.log(2.0), n)),
        "vol": rng.uniform(0.2, 1.5, n),
        "is_call": rng.random(n) < 0.5,
    }


def best_of(fn: Callable[[], object], reps: int, budget_s: float) -> float:
    """Shortest of up to ``reps`` timed calls, stopping early once ``budget_s`` is spent."""
    best, spent = math.inf, 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
        if spent > budget_s:
            break
    return best


def rate_black76(o: dict[str, np.ndarray], reps: int) -> float:
    args = (o["forward"], o["strike"], o["years"], o["vol"], o["is_call"])
    return len(o["forward"]) / best_of(lambda: black76(*args), reps, 1.5)


def rate_numba(kernel: Callable[..., None], o: dict[str, np.ndarray], reps: int) -> float:
    out = np.empty((5, len(o["forward"])))
    args = (o["forward"], o["strike"], o["years"], o["vol"], o["is_call"], out)
    kernel(*args)  # compile (or load from cache) outside the timing
    return len(o["forward"]) / best_of(lambda: kernel(*args), reps, 1.5)


def vollib_all(o: dict[str, np.ndarray]) -> np.ndarray:
    from vollib.black import black
    from vollib.black.greeks import analytical as an

    out = np.empty((5, len(o["forward"])))
    for i, (f, k, t, s, c) in enumerate(zip(o["forward"], o["strike"], o["years"], o["vol"],
                                            o["is_call"], strict=True)):
        flag = "c" if c else "p"
        out[:, i] = (black(flag, f, k, t, 0.0, s), an.delta(flag, f, k, t, 0.0, s),
                     an.gamma(flag, f, k, t, 0.0, s), an.vega(flag, f, k, t, 0.0, s),
                     an.theta(flag, f, k, t, 0.0, s))
    return out


def ours_scalar_all(o: dict[str, np.ndarray]) -> None:
    for f, k, t, s, c in zip(o["forward"].tolist(), o["strike"].tolist(), o["years"].tolist(),
                             o["vol"].tolist(), o["is_call"].tolist(), strict=True):
        black76_scalar(f, k, t, s, c)


def rel_diffs(got: np.ndarray, o: dict[str, np.ndarray]) -> np.ndarray:
    """Relative differences to black76, shape (5, n) (floor on values: 1e-12 of max(F, K))."""
    want = np.array(black76(o["forward"], o["strike"], o["years"], o["vol"], o["is_call"]))
    floor = 1e-12 * np.maximum(o["forward"], o["strike"])
    return np.abs(got - want) / np.maximum(np.abs(want), floor)


def max_rel_diff(got: np.ndarray, o: dict[str, np.ndarray]) -> float:
    return float(rel_diffs(got, o).max())


PVV_SCRIPT = r"""
import json, sys, time
import numpy as np
d = np.load(sys.argv[1])
n = len(d["forward"])
flag = np.where(d["is_call"], "c", "p")
try:
    import py_vollib_vectorized as pvv
    t0 = time.perf_counter()
    g = pvv.get_all_greeks(flag, d["forward"], d["strike"], d["years"], 0.0, d["vol"],
                           model="black", return_as="dict")
    v = pvv.vectorized_black(flag, d["forward"], d["strike"], d["years"], 0.0, d["vol"],
                             return_as="numpy")
    dt = time.perf_counter() - t0
    out = [np.ravel(v).tolist()] + [np.ravel(g[k]).tolist() for k in
                                    ("delta", "gamma", "vega", "theta")]
    print(json.dumps({"rate": n / dt, "out": out}))
except Exception as exc:
    import numba
    lines = [l.strip().replace(sys.prefix, "<venv>") for l in str(exc).splitlines()]
    why = [l for l in lines if l.startswith("cannot")][:1]
    where = [l for l in lines if l.startswith("During: typing")][:1]
    versions = f"(py-vollib-vectorized {pvv.__version__}, numba {numba.__version__})"
    print(json.dumps({"error": " / ".join([type(exc).__name__, *why, *where, versions])}))
"""


def run_pvv(o: dict[str, np.ndarray], disable_jit: bool) -> dict[str, object]:
    python = PVV_VENV / "bin" / "python"
    if not python.exists():
        return {"error": f"no {python.relative_to(ROOT)} (run without --no-peer-setup)"}
    env = {"PATH": "/usr/bin:/bin", "NUMBA_DISABLE_JIT": "1" if disable_jit else "0"}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "options.npz"
        np.savez(data, **o)
        proc = subprocess.run([str(python), "-c", PVV_SCRIPT, str(data)], capture_output=True,
                              text=True, timeout=120, env=env, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    result: dict[str, object] = json.loads(lines[-1])
    return result


def setup_pvv() -> str | None:
    """Create the peer's venv; return why not if pip cannot (offline, say)."""
    progress(f"creating {PVV_VENV.relative_to(ROOT)} with py-vollib-vectorized (once, ~20 s)")
    pip = [str(PVV_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
           "py-vollib-vectorized==0.1.1"]
    try:
        subprocess.run(["python3", "-m", "venv", str(PVV_VENV)], check=True, timeout=120)
        subprocess.run(pip, check=True, timeout=300, capture_output=True, text=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not create its venv: {exc}"
    return None


def fmt_rate(r: float | None) -> str:
    return "—" if r is None else f"{r:,.0f}"


def fmt_ratio(ours: float, peer: float | None) -> str:
    return "—" if peer is None else f"{ours / peer:,.1f}×"


def measure_vectorized(reps: int) -> dict[int, dict[str, float]]:
    rows: dict[int, dict[str, float]] = {}
    for n in SIZES:
        o = chain(n)
        progress(f"{n:>9,} options: black76, numba serial, numba parallel")
        rows[n] = {"ours": rate_black76(o, reps),
                   "numba_serial": rate_numba(numba_black76.serial, o, reps),
                   "numba_parallel": rate_numba(numba_black76.parallel, o, reps)}
    return rows


def measure_malloc_tuned(reps: int) -> dict[int, float]:
    """black76 again, in a child whose glibc malloc keeps freed temporaries instead of
    returning every block over 128 KiB to the OS (which costs a page fault per 4 KiB
    each time numpy allocates a temporary again)."""
    progress("black76 again with MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ raised (child)")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**30)}
    proc = subprocess.run([sys.executable, __file__, "--black76-only", "--reps", str(reps)],
                          capture_output=True, text=True, timeout=120, env=env, check=True)
    return {int(n): r for n, r in json.loads(proc.stdout).items()}


def measure_scalar(n: int) -> dict[str, float]:
    sub = chain(n, seed=2)
    progress(f"vollib and black76_scalar on a {n:,}-option subsample")
    out = np.empty((5, n))
    numba_black76.serial(sub["forward"], sub["strike"], sub["years"], sub["vol"],
                         sub["is_call"], out)
    return {"n": n,
            "vollib": n / best_of(lambda: vollib_all(sub), 3, 4.0),
            "ours_scalar": n / best_of(lambda: ours_scalar_all(sub), 3, 2.0),
            "vollib_diff": max_rel_diff(vollib_all(sub), sub),
            "numba_diff": max_rel_diff(out, sub)}


def measure_pvv(n: int) -> dict[str, object]:
    sub = chain(n, seed=3)
    progress("py-vollib-vectorized (subprocess, own venv): with numba JIT")
    jit = run_pvv(sub, disable_jit=False)
    result: dict[str, object] = {"n": n, "jit_error": jit.get("error"), "jit_rate": None}
    if "rate" in jit:
        result["jit_rate"] = jit["rate"]
        result["jit_diff"] = max_rel_diff(np.array(jit["out"]), sub)
        return result
    progress("py-vollib-vectorized: JIT failed; timing it with NUMBA_DISABLE_JIT=1 instead")
    nojit = run_pvv(sub, disable_jit=True)
    result["nojit_rate"] = nojit.get("rate")
    if "out" in nojit:
        diffs = rel_diffs(np.array(nojit["out"]), sub)
        result["nojit_diff"] = ", ".join(
            f"{name} {d.max():.0e} (median {np.median(d):.0e})"
            for name, d in zip(("value", "delta", "gamma", "vega", "theta"), diffs, strict=True))
    return result


def print_report(rows: dict[int, dict[str, float]], scalar: dict[str, float],
                 pvv: dict[str, object]) -> None:
    import numba

    pvv_rate = pvv.get("jit_rate")
    pvv_rate = float(pvv_rate) if isinstance(pvv_rate, float) else None
    print("Greeks kernel — options/s, all five outputs (value, delta, gamma, vega, theta), "
          f"best of N; numba threads: {numba.get_num_threads()}")
    head = ("options", "greekstream black76", "numba serial", "numba parallel",
            "vollib (scalar)", "py-vollib-vectorized")
    print(" | ".join(f"{h:>20}" for h in head))
    for n, r in rows.items():
        cells = (f"{n:,}", fmt_rate(r["ours"]), fmt_rate(r["numba_serial"]),
                 fmt_rate(r["numba_parallel"]), fmt_rate(scalar["vollib"]), fmt_rate(pvv_rate))
        print(" | ".join(f"{c:>20}" for c in cells))
    print("\nratio ours / peer")
    print(" | ".join(f"{h:>20}" for h in (head[0], *head[2:])))
    for n, r in rows.items():
        cells = (f"{n:,}", fmt_ratio(r["ours"], r["numba_serial"]),
                 fmt_ratio(r["ours"], r["numba_parallel"]), fmt_ratio(r["ours"], scalar["vollib"]),
                 fmt_ratio(r["ours"], pvv_rate))
        print(" | ".join(f"{c:>20}" for c in cells))
    print_notes(rows, scalar, pvv)


def print_notes(rows: dict[int, dict[str, float]], scalar: dict[str, float],
                pvv: dict[str, object]) -> None:
    print("\nblack76 in a process with glibc MALLOC_MMAP_THRESHOLD_ = MALLOC_TRIM_THRESHOLD_"
          " = 1 GiB:")
    for n, r in rows.items():
        tuned, vs_numba = r["ours_malloc_tuned"], r["ours_malloc_tuned"] / r["numba_serial"]
        print(f"  {n:>9,} options: {tuned:>12,.0f} options/s, "
              f"{tuned / r['ours']:.2f}× the default, {vs_numba:.2f}× numba serial")
    vollib, ours = scalar["vollib"], scalar["ours_scalar"]
    print(f"vollib: timed on {scalar['n']:,} options (per-option cost does not depend on n); "
          f"max rel. difference to black76: {scalar['vollib_diff']:.1e}")
    print(f"numba loop: max rel. difference to black76: {scalar['numba_diff']:.1e}")
    print(f"greekstream black76_scalar (the engine's one-quote path): {ours:,.0f} options/s "
          f"({1e6 / ours:.1f} µs/option), {ours / vollib:.1f}× vollib")
    if pvv.get("jit_error"):
        print(f"py-vollib-vectorized cannot run here: {pvv['jit_error']}")
        nojit = pvv.get("nojit_rate")
        if isinstance(nojit, float):
            print(f"  with NUMBA_DISABLE_JIT=1 it runs (pure Python, finite-difference Greeks): "
                  f"{nojit:,.0f} options/s on {pvv['n']:,} options; not a fair peer, not in "
                  f"the ratios. Max rel. difference to black76: {pvv.get('nojit_diff')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--black76-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=7, help=argparse.SUPPRESS)
    parser.add_argument("--no-peer-setup", action="store_true",
                        help=f"do not create {PVV_VENV.relative_to(ROOT)} (py-vollib-vectorized) "
                        "when it is missing")
    args = parser.parse_args(argv)
    if args.black76_only:
        print(json.dumps({n: rate_black76(chain(n), args.reps) for n in SIZES}))
        return 0
    if not args.no_peer_setup and not (PVV_VENV / "bin" / "python").exists():
        setup_failed = setup_pvv()
        if setup_failed:
            progress(setup_failed)
    started = time.perf_counter()
    reps = 3 if args.quick else 7
    rows = measure_vectorized(reps)
    for n, rate in measure_malloc_tuned(reps).items():
        rows[n]["ours_malloc_tuned"] = rate
    scalar = measure_scalar(500 if args.quick else 2_000)
    pvv = measure_pvv(300 if args.quick else 1_000)
    print_report(rows, scalar, pvv)
    progress(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
