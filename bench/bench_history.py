"""History in ClickHouse (embedded chDB): sink insert rate, as-of and time-series latency.

    .venv/bin/python bench/bench_history.py [--quick]

Figures against the issue's goals, measured in one run on a temporary chDB store:
  1. sink rows/s into chDB, column-oriented (goal >= 500k rows/s): the insert alone
     (prebuilt columns); end to end through HistoryWriter (hash-chained JSON outputs in, each
     stored as its table row and its hash-chain row; goal >= 0.75x chDB inserting the
     same rows from files of the same records, JSONEachRow and JSONAsString; with the
     table rows alone and the former Python row path for comparison);
  2. as-of exposures over 10M stored exposure rows (goal p50 < 100 ms), through the
     hourly/minute rollups, with a plain argMax scan of the raw table for comparison;
  3. a month of per-second exposures for one book, bucketed 1m/1h/1d (goal < 200 ms).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from goals import goal
from greekstream.api.queries import timeseries
from greekstream.core.timeutil import format_ts, parse_ts
from greekstream.history.asof import stored_exposures_as_of
from greekstream.history.client import History, connect
from greekstream.history.migrate import migrate
from greekstream.history.rows import EXPOSURES, OUTPUT_CHAIN
from greekstream.history.writer import HistoryWriter

START = parse_ts("2026-03-01T00:00:00Z")
SECOND = 1_000_000


def progress(msg: str) -> None:
    print(f"[bench_history] {msg}", file=sys.stderr, flush=True)


def fresh(root: Path, name: str) -> History:
    history = connect(f"chdb://{root}?database={name}", create=True)
    migrate(history)
    return history


def exposure_columns(n: int) -> list[list[object]]:
    books = [f"book-{i % 50:02d}" for i in range(n)]
    unds = [("BTC", "ETH", "SOL")[i % 3] for i in range(n)]
    ts = [START + (i // 150) * SECOND for i in range(n)]
    x = [float(i % 1000) / 7.0 for i in range(n)]
    return [[f"e{i}" for i in range(n)], ts, books, unds, x, x, x, x, x, x,
            [i % 40 for i in range(n)], [f"c{i}" for i in range(n)], [False] * n,
            [False] * n, list(range(n))]


def bench_insert(root: Path, rows: int, batch: int) -> float:
    history = fresh(root, "bench_insert")
    columns = exposure_columns(rows)
    started = time.perf_counter()
    for lo in range(0, rows, batch):
        history.insert("exposures", [c[lo:lo + batch] for c in columns], EXPOSURES.columns)
    rate = rows / (time.perf_counter() - started)
    history.close()
    return rate


def exposure_bodies(rows: int) -> list[bytes]:
    """Exposure outputs as the engine encodes them: hash-chained, ``prev`` and ``hash``
    last (a SHA-256 of the body stands in for the canonical hash; same length)."""
    bodies, prev = [], b""
    for i in range(rows):
        body = orjson.dumps({
            "type": "exposure", "event_id": f"e{i}",
            "ts": format_ts(START + (i // 150) * SECOND), "book": f"book-{i % 50:02d}",
            "underlying": "BTC", "delta": i / 7, "delta_equity": i / 7, "gamma": 0.001,
            "vega": 10.0, "theta": -5.0, "delta_usd": i * 9.0, "positions": 3,
            "caused_by": f"c{i}", "stale": False, "oracle_divergence": False})
        digest = hashlib.sha256(body).hexdigest().encode()
        bodies.append(body[:-1] + b',"prev":"%s","hash":"%s"}' % (prev, digest))
        prev = digest
    return bodies


def _chdb_peer(history: History, root: Path, bodies: list[bytes]) -> float:
    """chDB inserting the sink's rows itself from files of the same records: the
    exposure rows (``JSONEachRow``) and each output's hash-chain row (``JSONAsString``,
    fields by ``JSONExtract``, the record kept whole); the seconds taken by the
    exposure insert alone and by both."""
    rows_file, chain_file = root / "exposures.jsonl", root / "chain.jsonl"
    rows_file.write_bytes(b"\n".join(b'{"seq":%d,' % n + b[1:] for n, b in enumerate(bodies)))
    chain_file.write_bytes(b"\n".join(bodies))
    cols = ", ".join(EXPOSURES.columns)
    started = time.perf_counter()
    history.command(f"INSERT INTO exposures ({cols}) SELECT {cols} FROM file('{rows_file}', "
                    "JSONEachRow) SETTINGS date_time_input_format = 'best_effort', "
                    "input_format_skip_unknown_fields = 1")
    rows_only = time.perf_counter() - started
    field = "JSONExtractString(record, '{}')".format
    history.command(
        f"INSERT INTO output_chain ({', '.join(OUTPUT_CHAIN.columns)}) SELECT "
        f"{field('event_id')}, {field('type')}, "
        f"parseDateTime64BestEffort({field('ts')}, 6, 'UTC'), true, {field('book')}, "
        f"{field('prev')}, {field('hash')}, record, rowNumberInAllBlocks() "
        f"FROM file('{chain_file}', JSONAsString, 'record String')")
    return rows_only, time.perf_counter() - started


def bench_writer(root: Path, bodies: list[bytes], batch: int, reps: int = 3
                 ) -> dict[str, float]:
    """Kafka JSON records → stored rows, over the same records (rows/s, the best of
    ``reps`` runs each, alternating, on fresh stores): the sink's HistoryWriter
    (ClickHouse parses the JSON), the former Python path (orjson → row → columns), and
    chDB inserting from files of the same records itself. Every output is stored twice,
    its table row and its hash-chain row (``output_chain``, the record kept for audit);
    the peer does both (``chdb_file``) and, for comparison, the table rows alone
    (``chdb_rows_only``)."""
    rows = len(bodies)
    out: dict[str, float] = {}

    def best(label: str, rate: float) -> None:
        out[label] = max(out.get(label, 0.0), rate)

    for rep in range(reps):
        history = fresh(root, f"bench_file_{rep}")
        rows_only, both = _chdb_peer(history, root, bodies)
        best("chdb_rows_only", rows / rows_only)
        best("chdb_file", rows / both)
        history.close()
        for label in ("python_rows", "writer"):
            history = fresh(root, f"bench_{label}_{rep}")
            writer = HistoryWriter(history)
            started = time.perf_counter()
            for seq, body in enumerate(bodies):
                if label == "writer":
                    writer.add_output_json(body, seq)
                else:  # before: JSON parsed and rows built in Python, inserted column-wise
                    writer.add_output_row("exposure", orjson.loads(body), body, seq)
                if writer.pending >= batch:
                    writer.flush()
            writer.flush()
            best(label, rows / (time.perf_counter() - started))
            stored = history.rows("SELECT count() FROM exposures")[0][0]
            chained = history.rows("SELECT count() FROM output_chain")[0][0]
            assert stored == chained == rows, (label, stored, chained)
            history.close()
    return out


def fill_exposures(history: History, rows: int, series: int, step_s: int, book_of: str,
                   underlying_of: str = "['BTC','ETH','SOL','XRP','DOGE'][(number % 5) + 1]",
                   ) -> None:
    """rows exposure rows over `series` (book, underlying) pairs, one per step_s each."""
    history.command(
        "INSERT INTO exposures SELECT "
        "concat('e', toString(number)), "
        f"fromUnixTimestamp64Micro(toInt64({START} + intDiv(number, {series}) * {step_s} "
        f"* {SECOND}), 'UTC'), {book_of}, {underlying_of}, "
        "sin(number / 1000.0) * 100, sin(number / 1000.0) * 100 + 5, cos(number) * 0.01, "
        "cos(number / 77.0) * 5000, -abs(sin(number / 13.0)) * 900, sin(number / 1000.0) * 9e6, "
        f"toInt64(number % 60), 'bench', false, false, toInt64(number) FROM numbers({rows}) "
        "SETTINGS max_insert_block_size = 1000000"
    )


def timed(fn: Callable[[], object], reps: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def bench_as_of(root: Path, rows: int, reps: int) -> dict[str, float]:
    history = fresh(root, "bench_asof")
    series, step_s = 500, 120
    started = time.perf_counter()
    fill_exposures(history, rows, series, step_s,
                   f"concat('book-', toString(intDiv(number % {series}, 5)))")
    progress(f"as-of: stored {rows:,} exposure rows in {time.perf_counter() - started:.1f} s")
    span_s = rows // series * step_s
    moments = [START + int(span_s * f) * SECOND + 37_123_456 for f in (0.31, 0.55, 0.77, 0.93)]
    rollup = [t for m in moments for t in timed(lambda m=m: stored_exposures_as_of(history, m),
                                                reps)]
    scan_sql = ("SELECT book, underlying, argMax((delta, vega), (ts, seq)) FROM exposures "
                "WHERE ts <= fromUnixTimestamp64Micro({t:Int64}, 'UTC') GROUP BY book, underlying")
    scan = timed(lambda: history.rows(scan_sql, {"t": moments[-1]}), max(3, reps // 3))
    n = len(stored_exposures_as_of(history, moments[-1]))
    history.close()
    return {"rollup_p50": statistics.median(rollup), "rollup_p90": _p90(rollup),
            "scan_p50": statistics.median(scan), "series": n}


def bench_series(root: Path, days: int, reps: int) -> dict[str, float]:
    history = fresh(root, "bench_series")
    rows = days * 86_400
    started = time.perf_counter()
    fill_exposures(history, rows, 1, 1, "'desk-month'", "'BTC'")
    seconds = time.perf_counter() - started
    progress(f"time series: stored {rows:,} per-second rows in {seconds:.1f} s")
    out: dict[str, float] = {"rows": rows}
    for bucket in ("1m", "1h", "1d"):
        ms = timed(lambda b=bucket: timeseries(history, "desk-month", b, None, None), reps)
        out[bucket] = statistics.median(ms)
        out[f"{bucket}_points"] = len(timeseries(history, "desk-month", bucket, None, None))
    history.close()
    return out


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def verdict(ok: bool) -> str:
    return "meets goal" if ok else "MISSES goal"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    args = parser.parse_args(argv)
    insert_rows = 300_000 if args.quick else 1_000_000
    writer_rows = 100_000 if args.quick else 300_000
    asof_rows = 1_000_000 if args.quick else 10_000_000
    days = 3 if args.quick else 30
    reps = 5 if args.quick else 15
    with tempfile.TemporaryDirectory(prefix="gs-bench-chdb-") as tmp:
        root = Path(tmp)
        progress(f"insert: {insert_rows:,} exposure rows, column-oriented, 100k per insert")
        insert_rate = bench_insert(root, insert_rows, 100_000)
        progress(f"writer: {writer_rows:,} JSON outputs through HistoryWriter")
        writer = bench_writer(root, exposure_bodies(writer_rows), 50_000)
        asof = bench_as_of(root, asof_rows, reps)
        series = bench_series(root, days, reps)
    print(f"history in embedded chDB (clickhouse-connect interface='chdb'); "
          f"{'--quick sizes' if args.quick else 'full sizes'}")
    print(f"{'measure':<62} {'figure':>16}  goal")
    print(f"{'sink insert, column-oriented, ' + format(insert_rows, ',') + ' rows':<62} "
          f"{insert_rate:>11,.0f} r/s  >= 500k r/s: {verdict(insert_rate >= 500_000)}")
    ratio = writer["writer"] / writer["chdb_file"]
    print(f"{'sink end to end (JSON -> HistoryWriter -> chDB JSONEachRow)':<62} "
          f"{writer['writer']:>11,.0f} r/s  >= 0.75x chDB's own: {verdict(ratio >= 0.75)} "
          f"({ratio:.2f}x)")
    print(f"{'  peer: chDB INSERT SELECT FROM file(...), same records and rows':<62} "
          f"{writer['chdb_file']:>11,.0f} r/s")
    print(f"{'  chDB, the exposure rows alone (no hash-chain rows)':<62} "
          f"{writer['chdb_rows_only']:>11,.0f} r/s")
    print(f"{'  before: orjson -> Python rows -> column insert':<62} "
          f"{writer['python_rows']:>11,.0f} r/s")
    print(f"{'as-of over ' + format(asof_rows, ',') + ' rows, rollups, p50 (p90)':<62} "
          f"{asof['rollup_p50']:>8.1f} ms ({asof['rollup_p90']:.1f})  p50 < 100 ms: "
          f"{verdict(asof['rollup_p50'] < 100)}; {asof['series']:.0f} series")
    print(f"{'as-of by argMax scan of the raw table, p50 (comparison)':<62} "
          f"{asof['scan_p50']:>8.1f} ms")
    goal("history sink end to end (Kafka JSON records -> ClickHouse rows)",
         ">= 0.75x chDB's own insert of the same rows", writer["writer"], "rows/s",
         ratio >= 0.75, "chDB INSERT SELECT FROM file(), same rows", ratio)
    for bucket in ("1m", "1h", "1d"):
        label = f"time series, {days} days per-second ({series['rows']:,.0f} rows), {bucket}"
        print(f"{label:<62} {series[bucket]:>8.1f} ms  < 200 ms: "
              f"{verdict(series[bucket] < 200)}; {series[bucket + '_points']:,.0f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
