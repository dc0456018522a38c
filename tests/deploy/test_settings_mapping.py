"""Settings <-> chart and compose, both ways (services/greekstream/settings.py is the source).

Every field of each deployable's settings model is reachable from the chart (values or the
Secrets/downward API it wires) and from compose's environment (docker-compose.yml plus
compose.override.example.yml); and every GREEKSTREAM_* variable the chart or compose sets is a
field of the model that the container's command reads, with a value that model accepts.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from greekstream.settings import (
    EngineEnvSettings,
    KafkaClientSettings,
    ProcessorSettings,
    ServeSettings,
    SinkSettings,
)
from tests.deploy.conftest import CHART, Rendered

# the settings model each subcommand reads (checked against the command's source below)
MODELS: dict[str, type[BaseSettings] | None] = {
    "process": ProcessorSettings,
    "sink": SinkSettings,
    "serve": ServeSettings,
    "topics": KafkaClientSettings,
    "produce": KafkaClientSettings,
    "history": None,  # its DSN is an argument: history migrate $(GREEKSTREAM_CLICKHOUSE_DSN)
}
# the processors' engine section, which these commands read too (settings.engine_settings():
# the sink's arrival clocks, serve's replays), set to the processors' values (tested below)
ENGINE_READERS = ("sink", "serve", "produce")  # (produce: the gateway, compose only)
# env vars that are not model fields but the settings loader itself reads
LOADER_VARS = {"GREEKSTREAM_SETTINGS_FILE"}
SECRET_PLACEHOLDER = {
    "GREEKSTREAM_CLICKHOUSE_DSN": "http://u:p@clickhouse:8123/greekstream",
    "GREEKSTREAM_TOKENS_JSON": '{"0123456789abcdef0123": "*"}',
}


def env_names(model: type[BaseModel], prefix: str = "GREEKSTREAM_") -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names |= env_names(ann, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def test_models_match_the_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    from greekstream.commands._common import consumer_settings

    for command, model in MODELS.items():
        source = inspect.getsource(importlib.import_module(f"greekstream.commands.{command}"))
        if model is None:
            assert "Settings(" not in source, command
        elif f"consumer_settings({model.__name__}," in source:
            # process and sink read theirs through the one consumer helper: it must build
            # that model from the environment, as the chart and compose set it
            monkeypatch.setenv("GREEKSTREAM_GROUP_ID", f"from-env-{command}")
            got = consumer_settings(model, command, argparse.Namespace(group=None, port=None),
                                    lambda _base: {})
            assert type(got) is model and got.group_id == f"from-env-{command}", command
        elif model is KafkaClientSettings and "kafka_client_settings()" in source:
            # topics and produce read theirs through topics.kafka_client_settings: it must
            # build that model from the environment, as the chart and compose set it
            from greekstream.commands.topics import kafka_client_settings

            monkeypatch.setenv("GREEKSTREAM_KAFKA__TOPIC_PREFIX", f"from-env-{command}")
            got_kafka = kafka_client_settings()
            assert type(got_kafka) is model, command
            assert got_kafka.kafka.topic_prefix == f"from-env-{command}", command
        elif f"load_settings({model.__name__}," in source:
            # serve reads its model through the one settings helper (_common.load_settings)
            from greekstream.commands._common import load_settings

            monkeypatch.setenv("GREEKSTREAM_LOG_LEVEL", "DEBUG")
            got_model = load_settings(model, command)
            assert type(got_model) is model and got_model.log_level == "DEBUG", command
        else:
            assert f"{model.__name__}()" in source, f"{command} reads {model.__name__}"


def load(model: type[BaseSettings], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Build the model from exactly these variables, as the container would."""
    with monkeypatch.context() as m:
        for key in [k for k in os.environ if k.startswith("GREEKSTREAM_")]:
            m.delenv(key)
        for key, value in env.items():
            m.setenv(key, value)
        return model()


def check_container(where: str, args: list[str], env: dict[str, str],
                    monkeypatch: pytest.MonkeyPatch) -> type[BaseSettings] | None:
    command = args[0]
    assert command in MODELS, f"{where}: {command} is not a greekstream subcommand"
    model = MODELS[command]
    ours = {k: v for k, v in env.items() if k.startswith("GREEKSTREAM_")}
    if model is None:
        assert set(ours) <= {"GREEKSTREAM_CLICKHOUSE_DSN"}, where
        assert all(f"$({k})" in args for k in ours), f"{where}: {ours} unused"
        return None
    engine = env_names(EngineEnvSettings) if command in ENGINE_READERS else set()
    unknown = set(ours) - env_names(model) - engine - LOADER_VARS
    assert not unknown, f"{where}: {sorted(unknown)} are not fields of {model.__name__}"
    loaded = load(model, {k: v for k, v in ours.items() if k not in engine}, monkeypatch)
    assert loaded is not None  # types and bounds hold
    if engine:
        assert load(EngineEnvSettings, {k: v for k, v in ours.items() if k in engine},
                    monkeypatch) is not None
    return model


def assert_engine_env_is_the_processors(
        where: str, containers: list[tuple[str, list[str], dict[str, str]]]) -> None:
    """The sink and serve get every engine setting the processors get, with the same
    value: a desk that sets one for its processors sets it for them."""
    engines = {}
    for name, args, env in containers:
        if args[0] in ("process", *ENGINE_READERS):
            engine = {k: v for k, v in env.items() if k.startswith("GREEKSTREAM_ENGINE__")}
            engines.setdefault(args[0], []).append((name, engine))
    assert {"process", "sink", "serve"} <= set(engines), f"{where}: {sorted(engines)}"
    (_, want), *_ = engines["process"]
    assert want, f"{where}: the processor has no engine settings"
    for command in ENGINE_READERS:
        for name, got in engines.get(command, []):
            unread = FILES if command != "serve" else set()
            got = {k: v for k, v in got.items() if k not in unread}
            mine = {k: v for k, v in want.items() if k not in unread}
            assert got == mine, f"{where} {name}: engine settings differ from the processor's"


# the engine's files: the sink and the gateway read no scenario or returns file
FILES = {"GREEKSTREAM_ENGINE__SCENARIOS_FILE", "GREEKSTREAM_ENGINE__RETURNS_FILE"}


# --- the chart ---------------------------------------------------------------------------

def chart_containers(rendered: Rendered) -> list[tuple[str, list[str], dict[str, str]]]:
    configmaps = {cm["metadata"]["name"]: cm["data"] for cm in rendered.kind("ConfigMap")}
    out = []
    for doc in rendered.docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for c in doc["spec"]["template"]["spec"]["containers"]:
            env: dict[str, str] = {}
            for source in c.get("envFrom", []):
                env.update(configmaps[source["configMapRef"]["name"]])
            for e in c.get("env", []):
                env[e["name"]] = e.get("value") or SECRET_PLACEHOLDER.get(e["name"], "x" * 16)
            out.append((doc["metadata"]["name"], c["args"], env))
    return out


def test_chart_sets_only_known_settings_and_reaches_every_field(
    rendered_default: Rendered, rendered_production: Rendered, rendered_all_settings: Rendered,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    containers = [c for rendered in (rendered_default, rendered_production, rendered_all_settings)
                  for c in chart_containers(rendered)]
    assert_every_field_reached("chart", containers, monkeypatch)
    for rendered in (rendered_default, rendered_production, rendered_all_settings):
        assert_engine_env_is_the_processors("chart", chart_containers(rendered))


def assert_every_field_reached(where: str, containers: list[tuple[str, list[str], dict[str, str]]],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each container's env is only known settings (check_container), and together they
    set every field of every settings model."""
    reached: dict[type[BaseSettings], set[str]] = {}
    for name, args, env in containers:
        model = check_container(f"{where} {name}", args, env, monkeypatch)
        if model is not None:
            reached.setdefault(model, set()).update(env)
    for model in {m for m in MODELS.values() if m is not None}:
        missing = env_names(model) - reached.get(model, set())
        assert not missing, f"{model.__name__} fields {where} cannot set: {sorted(missing)}"


# settings fields deliberately not under a `settings` block of values.yaml, and why
NOT_IN_VALUES = {
    "kafka": "kafka.settings (shared by the processor, the sink and the topics Job)",
    "instance_id": "the pod's name, from the downward API",
    "clickhouse_dsn": "a Secret: clickhouse.existingSecret",
    "tokens_file": "a Secret mounted as a file: serve.tokens.fileKey",
    "tokens_json": "a Secret: serve.tokens.jsonKey",
    "scenarios_file": "a ConfigMap from processor.scenarios (the file's text)",
    "returns_file": "a ConfigMap from processor.returns (the CSV's text)",
    "sasl_username": "a Secret: kafka.sasl.existingSecret",
    "sasl_password": "a Secret: kafka.sasl.existingSecret",
    "ssl_key_password": "a Secret: kafka.tls.keyPasswordKey",
    "ssl_ca_location": "a file of kafka.tls.existingSecret",
    "ssl_certificate_location": "a file of kafka.tls.existingSecret",
    "ssl_key_location": "a file of kafka.tls.existingSecret",
}


def schema_fields(node: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for name, sub in node.get("properties", {}).items():
        if sub.get("type") == "object" and "properties" in sub:
            out |= schema_fields(sub, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def model_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        if name in NOT_IN_VALUES:
            continue
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= model_fields(ann, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


@pytest.mark.parametrize("block,model", [
    ("processor", ProcessorSettings), ("sink", SinkSettings), ("serve", ServeSettings),
    ("topics", KafkaClientSettings), ("kafka", KafkaClientSettings),
])
def test_values_schema_settings_blocks_are_the_models(block: str, model: type[BaseModel]) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    node = schema["properties"][block]["properties"]["settings"]
    assert node["additionalProperties"] is False
    if block == "kafka":
        from greekstream.settings import KafkaSettings
        expected = model_fields(KafkaSettings)
    else:
        expected = model_fields(model)
    assert schema_fields(node) == expected


# --- compose ------------------------------------------------------------------------------

def compose_containers(config: dict[str, Any]) -> list[tuple[str, list[str], dict[str, str]]]:
    out = []
    for name, svc in config["services"].items():
        if "build" not in svc:  # kafka, clickhouse: not ours
            continue
        env = {k: "" if v is None else str(v) for k, v in (svc.get("environment") or {}).items()}
        out.append((name, svc["command"], env))
    return out


def test_compose_sets_only_known_settings_and_reaches_every_field(
    compose_config: dict[str, Any], compose_override_config: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    containers = [c for config in (compose_config, compose_override_config)
                  for c in compose_containers(config)]
    assert_every_field_reached("compose", containers, monkeypatch)
    for config in (compose_config, compose_override_config):
        assert_engine_env_is_the_processors("compose", compose_containers(config))


def test_env_names_catch_an_unknown_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a misspelt variable is reported."""
    with pytest.raises(AssertionError, match="GREEKSTREAM_BATCH_SIZE"):
        check_container("probe", ["process"], {"GREEKSTREAM_BATCH_SIZE": "3"}, monkeypatch)
