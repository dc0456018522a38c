"""Settings reach librdkafka: SASL/SCRAM and TLS from GREEKSTREAM_KAFKA__* env vars."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer

from greekstream.settings import KafkaSettings, ProcessorSettings

CA = "/etc/ssl/certs/ca-certificates.crt"


def test_sasl_scram_and_tls_env_vars_become_librdkafka_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "BOOTSTRAP_SERVERS": "k1:9093,k2:9093", "SECURITY_PROTOCOL": "SASL_SSL",
        "SASL_MECHANISM": "SCRAM-SHA-512", "SASL_USERNAME": "risk", "SASL_PASSWORD": "s3cret",
        "SSL_CA_LOCATION": "/etc/kafka/ca.pem", "SSL_CERTIFICATE_LOCATION": "/etc/kafka/c.pem",
        "SSL_KEY_LOCATION": "/etc/kafka/k.pem", "SSL_KEY_PASSWORD": "kp",
    }
    for key, value in env.items():
        monkeypatch.setenv(f"GREEKSTREAM_KAFKA__{key}", value)
    settings = ProcessorSettings()
    assert "s3cret" not in repr(settings)  # secrets stay out of logs
    assert settings.kafka.client_config() == {
        "bootstrap.servers": "k1:9093,k2:9093", "security.protocol": "SASL_SSL",
        "client.id": "greekstream", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "risk", "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/kafka/ca.pem", "ssl.certificate.location": "/etc/kafka/c.pem",
        "ssl.key.location": "/etc/kafka/k.pem", "ssl.key.password": "kp",
    }


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_librdkafka_accepts_the_scram_over_tls_config(mechanism: str) -> None:
    conf = KafkaSettings.model_validate({
        "bootstrap_servers": "127.0.0.1:1", "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism, "sasl_username": "u", "sasl_password": "p",
        "ssl_ca_location": CA,
    }).client_config()
    Producer(conf).flush(0)  # librdkafka validates every key and loads the CA at creation


def test_librdkafka_rejects_a_missing_ca_file() -> None:
    conf = KafkaSettings(security_protocol="SSL",
                         ssl_ca_location="/nonexistent/ca.pem").client_config()
    with pytest.raises(KafkaException, match=r"ssl\.ca\.location|ca\.pem"):
        Producer(conf)
