"""Session-wide fixtures: a real Tansu Kafka broker (tests/integration/kafka_broker.py)."""

pytest_plugins = ["tests.integration.kafka_broker"]


# CI runs the same hypothesis examples every time (a failure there reproduces exactly);
# locally every run explores new ones. Set HYPOTHESIS_PROFILE=explore to explore on CI.
import os  # noqa: E402

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE",
                                     "ci" if os.environ.get("CI") == "true" else "explore"))
