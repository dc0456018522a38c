"""Session-wide fixtures: a real Tansu Kafka broker (tests/integration/kafka_broker.py)."""

import gc
from collections.abc import Iterator

import pytest

# first, before anything imports numpy: greekstream holds numpy's and OpenBLAS's CPU
# dispatch at the AVX2 level, so outputs have the same bits on every host
# (services/greekstream/__init__.py; tests/unit/test_floating_point.py)
import greekstream  # noqa: F401  isort: skip

pytest_plugins = ["tests.integration.kafka_broker"]


@pytest.fixture(autouse=True)
def _pytests_own_collector() -> Iterator[None]:
    """A `greekstream` command run in this process (cli.main) sets the garbage collector
    for a long run (runtime/collector.py); every test ends with pytest's own thresholds,
    so no test runs under another's setting."""
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


# CI runs the same hypothesis examples every time (a failure there reproduces exactly);
# locally every run explores new ones. Set HYPOTHESIS_PROFILE=explore to explore on CI.
import os  # noqa: E402

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE",
                                     "ci" if os.environ.get("CI") == "true" else "explore"))

# `make test` hands whole files to the workers (--dist loadfile) in collection order
# (--no-loadscope-reorder). These files take minutes each (their summed test times in one
# `make test`, 2026-12-01: 343, 231, 216, 117 and 108 s of 1,857 s), so they start first:
# else xdist's default order (most tests first) left them for last, and the run ended with
# one worker on a long file while the other idled (~3 min). The order changes no test.
LONGEST_FIRST = (
    "tests/integration/kafka/test_crash.py",
    "tests/integration/test_help_examples.py",
    "tests/integration/kafka/test_kafka_runtime.py",
    "tests/integration/kafka/test_outage.py",
    "tests/integration/history/test_replay_and_audit.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
