"""Settings reach librdkafka: SASL/SCRAM and TLS from GREEKSTREAM_KAFKA__* env vars."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer

from greekstream.errors import ConfigError
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


def _args(command: Any, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_process_and_sink_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from greekstream.commands import process, sink

    monkeypatch.setenv("GREEKSTREAM_GROUP_ID", "from-env")
    monkeypatch.setenv("GREEKSTREAM_KAFKA__BOOTSTRAP_SERVERS", "env:9092")
    p = process.settings_from(_args(process))  # no flags: the environment's
    assert (p.group_id, p.kafka.bootstrap_servers, p.http.port) == ("from-env", "env:9092", 8080)
    p = process.settings_from(_args(process, "--bootstrap", "b:1", "--prefix", "x",
                                     "--group", "g", "--instance", "i", "--port", "9"))
    assert (p.kafka.bootstrap_servers, p.kafka.topic_prefix, p.group_id, p.instance_id,
            p.http.port) == ("b:1", "x", "g", "i", 9)
    s = sink.settings_from(_args(sink))
    assert (s.group_id, s.kafka.bootstrap_servers, s.http.port) == ("from-env", "env:9092", 8081)
    s = sink.settings_from(_args(sink, "--bootstrap", "b:1", "--dsn", "chdb:///tmp/x",
                                 "--group", "g", "--port", "0"))
    assert (s.kafka.bootstrap_servers, s.clickhouse_dsn.get_secret_value(), s.group_id,
            s.http.port) == ("b:1", "chdb:///tmp/x", "g", 0)


@pytest.mark.parametrize("name", ["process", "sink"])
def test_a_bad_environment_is_a_config_error_naming_the_command(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from greekstream.commands import process, sink

    command = {"process": process, "sink": sink}[name]
    monkeypatch.setenv("GREEKSTREAM_SESSION_TIMEOUT_MS", "5")  # below the minimum
    what = "processor" if name == "process" else "sink"
    with pytest.raises(ConfigError, match=f"bad {what} settings"):
        command.settings_from(_args(command))
