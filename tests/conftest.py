"""Session-wide fixtures: a real Tansu Kafka broker (tests/integration/kafka_broker.py)."""

pytest_plugins = ["tests.integration.kafka_broker"]
