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
