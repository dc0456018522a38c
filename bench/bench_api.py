"""The query service under concurrent load while long replays run.

    .venv/bin/python bench/bench_api.py [--quick]

Builds a store from the demo day (``--quick``: the small kafka-test day), starts
`greekstream serve` on it (a real uvicorn process), starts 2 ``/v1/exposures?mode=replay``
requests (two tokens: one replay per token is the default limit), and while they run sends
200 mixed requests (books, time series, breaches, hedge intents, stored as-of, top) from 20
concurrent clients. Goal: p99 < 200 ms. Side by side, in the same run, the same load with
one pooled connection (``GREEKSTREAM_QUERIES__CONNECTIONS=1``: every query queues on one
client, as with the former global lock, though replays still run in a worker process).
A replay request that fails is reported and the bench exits 1: its load did not run
beside replays.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson

from greekstream.history import write_replay
from greekstream.runtime.replay import read_records, replay
from greekstream.sample import sample_path
from greekstream.sample.generate import write_sample

TOKENS = {"q" * 32: "*", "r" * 32: "*", "s" * 32: "*"}
LOAD, REPLAY_A, REPLAY_B = (f"Bearer {t}" for t in TOKENS)
REQUESTS, CONCURRENCY = 200, 20


def progress(msg: str) -> None:
    print(f"[bench_api] {msg}", file=sys.stderr, flush=True)


def build_store(root: Path, quick: bool) -> tuple[str, Path]:
    if quick:
        events = root / "day.jsonl"
        write_sample(events, "kafka-test", seed=5, show_progress=False)
    else:
        events = sample_path("demo")
    dsn = f"chdb://{root / 'chdb'}"
    progress(f"replaying {events.name} into {dsn} (once)")
    write_replay(dsn, read_records(events), replay(read_records(events)).outputs)
    return dsn, events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(dsn: str, connections: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "GREEKSTREAM_TOKENS_JSON": orjson.dumps(TOKENS).decode(),
           "GREEKSTREAM_QUERIES__CONNECTIONS": str(connections),
           "GREEKSTREAM_QUERIES__REPLAY_TIMEOUT_S": "3600", "GREEKSTREAM_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "greekstream.cli", "serve", "--dsn", dsn,
                             "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("greekstream serve did not become ready")


def mixed_paths(client: httpx.Client) -> list[str]:
    books = client.get("/v1/books", headers={"Authorization": LOAD}).json()
    last = client.get("/v1/books/" + books[0] + "/timeseries",
                      params={"bucket": "1h"}, headers={"Authorization": LOAD}).json()
    at = last[-1]["bucket"]
    paths = ["/v1/books", f"/v1/top?at={at}", f"/v1/exposures?at={at}"]
    for book in books[:4]:
        paths += [f"/v1/books/{book}/timeseries?bucket=1h", f"/v1/books/{book}/breaches",
                  f"/v1/books/{book}/hedge-intents", f"/v1/books/{book}/timeseries?bucket=1m"]
    return paths


def run_load(url: str, at: str) -> dict[str, float]:
    replay_done: list[float] = []
    replay_failed: list[str] = []

    def long_replay(auth: str) -> None:
        """One replay request; a failed one is recorded (an exception in this thread would
        only be printed, and the load would be reported as run beside replays)."""
        try:
            with httpx.Client(base_url=url, timeout=3600) as c:
                r = c.get("/v1/exposures", params={"at": at, "mode": "replay"},
                          headers={"Authorization": auth})
        except httpx.HTTPError as exc:
            replay_failed.append(f"{type(exc).__name__}: {exc}")
            return
        if r.status_code != 200:
            replay_failed.append(f"HTTP {r.status_code}: {r.text[:200]}")
            return
        replay_done.append(time.monotonic())

    replays = [threading.Thread(target=long_replay, args=(a,)) for a in (REPLAY_A, REPLAY_B)]
    for t in replays:
        t.start()
    time.sleep(0.5)  # both are admitted and reading/replaying before the load starts
    with httpx.Client(base_url=url, timeout=60,
                      limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        paths = mixed_paths(client)

        def one(i: int) -> float:
            started = time.perf_counter()
            r = client.get(paths[i % len(paths)], headers={"Authorization": LOAD})
            assert r.status_code == 200, (paths[i % len(paths)], r.status_code, r.text[:200])
            return (time.perf_counter() - started) * 1000

        begun = time.monotonic()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            latencies = sorted(pool.map(one, range(REQUESTS)))
        ended = time.monotonic()
    for t in replays:
        t.join()
    for failure in replay_failed:
        progress(f"a replay request failed: {failure}")
    overlapped = len(replay_done) == len(replays) and all(d > ended for d in replay_done)
    q = statistics.quantiles(latencies, n=100)
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": latencies[-1],
            "seconds": ended - begun, "replays_overlapped": float(overlapped),
            "replays_failed": float(len(replay_failed))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small kafka-test day")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_api-") as tmp:
        dsn, _events = build_store(Path(tmp), args.quick)
        results = {}
        for label, connections in (("pool of 8 (default)", 8), ("one connection", 1)):
            proc, url = serve(dsn, connections)
            try:
                with httpx.Client(base_url=url, timeout=60) as c:
                    books = c.get("/v1/books", headers={"Authorization": LOAD}).json()
                    ts = c.get(f"/v1/books/{books[0]}/timeseries", params={"bucket": "1d"},
                               headers={"Authorization": LOAD}).json()
                progress(f"{label}: {REQUESTS} requests at {CONCURRENCY} concurrent, "
                         "2 replays running")
                results[label] = run_load(url, ts[-1]["last_ts"])
            finally:
                proc.terminate()
                proc.wait(30)
    print(f"\n{REQUESTS} mixed requests at {CONCURRENCY} concurrent while 2 replays run "
          f"({'kafka-test' if args.quick else 'demo'} day); goal p99 < 200 ms")
    print(f"{'serve':<22}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'wall s':>8}"
          f"  replays ran throughout")
    for label, r in results.items():
        print(f"{label:<22}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}"
              f"{r['seconds']:>8.2f}  {'yes' if r['replays_overlapped'] else 'NO'}"
              + (f" ({r['replays_failed']:.0f} replay(s) FAILED)" if r["replays_failed"]
                 else ""))
    return 1 if any(r["replays_failed"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
