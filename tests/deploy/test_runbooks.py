"""The runbooks of docs/deploy.md prescribe only what works on the processor as it is."""

from __future__ import annotations

import re

from confluent_kafka import OFFSET_BEGINNING

from greekstream.core.engine import EngineConfig
from greekstream.kafka.checkpoints import Progress, Recovered
from greekstream.kafka.epoch import Epoch
from tests.deploy.conftest import REPO

DEPLOY = (REPO / "docs" / "deploy.md").read_text()


def _section(title: str) -> str:
    (body,) = re.findall(rf"^### {re.escape(title)}\n(.*?)(?=^##)", DEPLOY, re.S | re.M)
    return body


def test_the_poison_record_runbook_does_not_skip_by_resetting_the_group() -> None:
    """A processor resumes each partition where its checkpoints say (Epoch.restore: the
    snapshot's offsets, else the partition's beginning); the consumer group's committed
    offsets are not an input of the restore (_on_assign overwrites them). The runbook told
    operators to skip a crash-looping record with `kafka-consumer-groups --reset-offsets`:
    the processor came back at the same record and crashed again."""
    trades, quotes = "greekstream.trades", ("greekstream.quotes", 0)
    # a partition with a progress but no snapshot, one with nothing: both from the start,
    # whatever offset the group committed for them
    epoch = Epoch.restore(EngineConfig(), [0, 1], [trades], [quotes], 2,
                          {0: Recovered(Progress((5, 0, 0, 1), None), None, 1),
                           1: Recovered(None, None, 0)})
    assert epoch.next_offsets[(trades, 0)] == epoch.next_offsets[(trades, 1)] == OFFSET_BEGINNING

    runbook = _section("Poison record")
    assert "--reset-offsets" not in runbook
    assert "checkpoints" in runbook  # says where the processor resumes instead


def _murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the gateway's murmur2_random partitioner, the Java clients' default)."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    h = (0x9747B28C ^ len(data)) & mask
    whole = len(data) - len(data) % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[whole:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h >= 1 << 31 else h


def _partition(book: str, partitions: int) -> int:
    return (_murmur2(book.encode()) & 0x7FFFFFFF) % partitions


def test_the_scaling_guide_does_not_add_partitions_in_place() -> None:
    """A book's records go to murmur2(book) mod the partition count, and its engine state
    is in the checkpoint of that partition. `kafka-topics --alter` to more partitions sends
    a book's new records to another partition than its history and its state: two owners
    each hold part of the book, and its exposures are wrong. The guide said to do exactly
    that ("their checkpoints restore")."""
    # Kafka's own vectors (UtilsTest.testMurmur2)
    assert _murmur2(b"21") == -973932308 and _murmur2(b"foobar") == -790332482
    books = [f"desk-{c}" for c in "abcdefghij"]
    moved = [b for b in books if _partition(b, 6) != _partition(b, 12)]
    assert moved, "some books change partition when 6 partitions become 12"

    scaling = re.findall(r"^## 3\. Scaling\n(.*?)(?=^## )", DEPLOY, re.S | re.M)[0]
    assert "--alter" not in scaling and "checkpoints restore" not in scaling
    assert "not supported" in scaling


def test_each_runbook_is_one_numbered_list() -> None:
    """Every runbook's steps are numbered 1..n under its own heading: the ClickHouse
    outage's steps 2-4 sat under the next runbook (serve's 503/504), cut off from step 1."""
    runbooks = re.findall(r"^## 5\. Runbooks\n(.*?)(?=^## )", DEPLOY, re.S | re.M)[0]
    sections = re.split(r"^### ", runbooks, flags=re.M)[1:]
    assert len(sections) >= 4
    for section in sections:
        title = section.splitlines()[0]
        steps = [int(n) for n in re.findall(r"^(\d+)\. ", section, re.M)]
        assert steps == list(range(1, len(steps) + 1)), (title, steps)


def test_the_guide_says_to_percent_encode_the_dsn_password() -> None:
    """The DSN is a URL: a password with `@`, `#`, `/` or `:` as typed sent the client to
    another host (below: host `ss`, password `p`) or made the DSN malformed, and the guide
    showed PASSWORD verbatim. Percent-encoded, it reaches ClickHouse as typed."""
    from types import SimpleNamespace

    from greekstream.history import client

    def target(dsn: str) -> tuple[str, str]:
        seen: dict[str, str] = {}
        client._client(SimpleNamespace(get_client=lambda **kw: seen.update(kw)),
                       client.parse_dsn(dsn), None)
        return seen["host"], seen["password"]

    host = "abc123.eu-west-1.aws.clickhouse.cloud"
    assert target(f"https://greekstream:p@ss#w0rd@{host}:8443/greekstream") == ("ss", "p")
    assert target(f"https://greekstream:p%40ss%23w0rd@{host}:8443/greekstream") == (
        host, "p@ss#w0rd")
    managed = DEPLOY[DEPLOY.index("### Managed Kafka"):DEPLOY.index("3. Secrets")]
    assert "percent-encode" in managed
    laptop = DEPLOY[DEPLOY.index("## 1. Quick start"):DEPLOY.index("## 2. Kubernetes")]
    assert "letters and digits" in laptop  # compose puts CLICKHOUSE_PASSWORD in its DSN as is
