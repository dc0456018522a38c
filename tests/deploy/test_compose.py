"""docker-compose.yml: valid against the Compose schema (docker-compose 1.29's validator),
converging by depends_on conditions, real images, the page on localhost only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.deploy.conftest import COMPOSE, OVERRIDE, OVERRIDE_ENV, REPO, run, tool

OURS = ("topics", "history-migrate", "processor-1", "processor-2", "sink", "serve", "producer")


def test_compose_file_is_valid() -> None:
    run([tool("docker-compose"), "-f", str(COMPOSE), "config", "-q"])


def test_override_example_merges_validly() -> None:
    run([tool("docker-compose"), "-f", str(COMPOSE), "-f", str(OVERRIDE), "config", "-q"],
        env=OVERRIDE_ENV)


def test_the_validator_rejects_a_bad_file(tmp_path: Path) -> None:
    """The validity checks above can fail: an unknown key and a wrong type are refused."""
    text = COMPOSE.read_text()
    for bad in (text.replace("    restart: unless-stopped\n", "    restart_policy: always\n", 1),
                text.replace('      retries: 12\n', '      retries: [12]\n', 1)):
        path = tmp_path / "docker-compose.yml"
        path.write_text(bad)
        out = run([tool("docker-compose"), "-f", str(path), "config", "-q"], check=False)
        assert out.returncode != 0 and "invalid" in (out.stdout + out.stderr).lower()


def test_stack_has_every_part(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    for name in OURS:
        assert name in services, name
        svc = services[name]
        assert svc["image"] == services["processor-1"]["image"] and "build" in svc
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"]
    assert services["processor-1"]["environment"]["GREEKSTREAM_INSTANCE_ID"] != \
        services["processor-2"]["environment"]["GREEKSTREAM_INSTANCE_ID"]
    assert services["producer"]["command"][:2] == ["produce", "/opt/greekstream/share/demo.jsonl"]


def test_depends_on_conditions_make_it_converge(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]

    def deps(name: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in services[name].get("depends_on", {}).items()}

    assert deps("topics") == {"kafka": "service_healthy"}
    assert deps("history-migrate") == {"clickhouse": "service_healthy"}
    for proc in ("processor-1", "processor-2"):
        assert deps(proc) == {"topics": "service_completed_successfully"}
    assert deps("sink") == {"topics": "service_completed_successfully",
                            "history-migrate": "service_completed_successfully"}
    assert deps("serve") == {"history-migrate": "service_completed_successfully"}
    assert set(deps("producer").values()) == {"service_healthy"}
    # everything a service_healthy condition waits on has a health check
    for name in services:
        for dep, cond in deps(name).items():
            if cond == "service_healthy":
                assert "healthcheck" in services[dep], dep
    for one_shot in ("topics", "history-migrate", "producer"):
        assert services[one_shot]["restart"] == "no"


def test_listeners_bind_every_interface_explicitly(compose_config: dict[str, Any]) -> None:
    """The CLI binds loopback by default; in a container each listener must say 0.0.0.0
    (the published ports stay on the host's loopback, below)."""
    for name in ("processor-1", "processor-2", "sink", "serve"):
        env = compose_config["services"][name]["environment"]
        assert env["GREEKSTREAM_HTTP__HOST"] == "0.0.0.0", name


def test_page_and_ports_only_on_localhost(compose_config: dict[str, Any]) -> None:
    published = {}
    for name, svc in compose_config["services"].items():
        for port in svc.get("ports", []):
            spec = port if isinstance(port, str) else f"{port.get('host_ip')}:{port['published']}"
            assert spec.startswith("127.0.0.1:"), (name, spec)
            published[name] = spec
    assert published["serve"].startswith("127.0.0.1:8000:8000")


def _seconds(duration: str) -> float:
    """A compose duration ("60s", "1m30s", "1m")."""
    import re

    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", duration)
    assert parts and duration, duration
    h, m, s = (float(g or 0) for g in parts.groups())
    return h * 3600 + m * 60 + s


def test_stop_grace_lets_a_processor_finish_its_transaction(
        compose_config: dict[str, Any]) -> None:
    """On SIGTERM a processor commits the batch in flight with a checkpoint, resuming a
    commit the broker keeps failing for STOP_COMMIT_DEADLINE_S (docs/streaming.md, the
    SIGTERM row); the chart gives it 60 s. Compose's default is 10 s, after which the
    container is SIGKILLed mid-transaction: the stop the docs describe could not happen."""
    import yaml

    from greekstream.kafka.processor import COMMIT_TIMEOUT_S, STOP_COMMIT_DEADLINE_S

    values = yaml.safe_load((REPO / "helm" / "greekstream" / "values.yaml").read_text())
    services = compose_config["services"]
    for name in ("processor-1", "processor-2"):
        grace = _seconds(services[name].get("stop_grace_period", "10s"))
        assert grace > STOP_COMMIT_DEADLINE_S + COMMIT_TIMEOUT_S, name
        assert grace >= values["processor"]["terminationGracePeriodSeconds"], name
    sink = _seconds(services["sink"].get("stop_grace_period", "10s"))
    assert sink >= values["sink"]["terminationGracePeriodSeconds"]


def test_stop_grace_lets_serve_answer_the_requests_in_flight(
        compose_config: dict[str, Any]) -> None:
    """serve's SIGTERM waits for the requests in flight, a replay up to its
    REPLAY_TIMEOUT_S: compose's default 10 s cut them (the chart gives 150 s)."""
    serve = compose_config["services"]["serve"]
    env = serve["environment"]
    longest = max(float(env["GREEKSTREAM_QUERIES__REPLAY_TIMEOUT_S"]),
                  float(env["GREEKSTREAM_QUERIES__CONNECTION_WAIT_S"])
                  + float(env["GREEKSTREAM_QUERIES__QUERY_TIMEOUT_S"]))
    assert _seconds(serve.get("stop_grace_period", "10s")) > longest


def test_the_override_never_sends_the_demo_day_to_the_external_cluster(
        compose_config: dict[str, Any], compose_override_config: dict[str, Any]) -> None:
    """`producer` replays the bundled demo day. compose.override.example.yml pointed it at
    the external (production) Kafka, so a plain `docker compose up -d`, the quick start's
    command, or `docker compose run --rm producer` with the override in place published
    the demo desks' trades into the production topics. It keeps the bundled broker."""
    bundled = compose_config["services"]["producer"]["environment"]
    producer = compose_override_config["services"]["producer"]
    env = producer["environment"]
    assert producer["command"][:2] == ["produce", "/opt/greekstream/share/demo.jsonl"]
    assert env["GREEKSTREAM_KAFKA__BOOTSTRAP_SERVERS"] == bundled[
        "GREEKSTREAM_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert OVERRIDE_ENV["KAFKA_BOOTSTRAP"] not in str(producer)
    assert OVERRIDE_ENV["KAFKA_PASSWORD"] not in str(producer)
