"""The Helm chart: lint, render, Kubernetes 1.37 schemas, checkov, values.schema.json, and the
properties the operations guide promises (probes, security context, hooks, no inlined secrets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import (
    CHART,
    PRODUCTION,
    RELEASE,
    Rendered,
    helm_template,
    run,
    tool,
)

FULL = f"{RELEASE}-greekstream"
CRD_KINDS = {"ServiceMonitor", "ScaledObject", "TriggerAuthentication"}
# the only checkov skips the chart may carry; their reasons are in templates/_helpers.tpl
ALLOWED_SKIPS = {"CKV_K8S_35", "CKV_K8S_43"}


def pod_specs(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"])
            for d in rendered.docs if d["kind"] in ("Deployment", "Job")]


@pytest.mark.parametrize("values", [[], ["-f", str(PRODUCTION)]], ids=["default", "production"])
def test_helm_lint_strict(values: list[str]) -> None:
    out = run([tool("helm"), "lint", "--strict", str(CHART), *values])
    assert "0 chart(s) failed" in out.stdout


def test_default_rendering_has_every_workload(rendered_default: Rendered) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in rendered_default.docs}
    for component in ("processor", "sink", "serve"):
        assert ("Deployment", f"{FULL}-{component}") in kinds
        assert ("ConfigMap", f"{FULL}-{component}") in kinds
        assert ("PodDisruptionBudget", f"{FULL}-{component}") in kinds
        assert ("NetworkPolicy", f"{FULL}-{component}") in kinds
    assert ("Service", f"{FULL}-serve") in kinds
    assert ("Job", f"{FULL}-topics") in kinds and ("Job", f"{FULL}-migrate") in kinds
    assert not any(k in CRD_KINDS | {"Ingress", "HorizontalPodAutoscaler"} for k, _ in kinds)
    assert not rendered_default.kind("Secret"), "the chart must never create a Secret"


def test_production_rendering_turns_on_the_options(rendered_production: Rendered) -> None:
    kinds = {d["kind"] for d in rendered_production.docs}
    assert {"Ingress", "HorizontalPodAutoscaler", "ServiceMonitor", "ScaledObject",
            "TriggerAuthentication"} <= kinds
    (hpa,) = rendered_production.kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{FULL}-serve"  # KEDA owns the processor's
    scaled = rendered_production.get("ScaledObject", f"{FULL}-processor")
    assert scaled["spec"]["scaleTargetRef"]["name"] == f"{FULL}-processor"
    assert scaled["spec"]["maxReplicaCount"] <= 12  # topics.partitions in the production values
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == "greekstream-processor"
    assert trigger["metadata"]["sasl"] == "scram_sha512" and trigger["metadata"]["tls"] == "enable"
    assert "replicas" not in rendered_production.get("Deployment", f"{FULL}-processor")["spec"]
    monitor = rendered_production.get("ServiceMonitor", f"{FULL}-processor")
    svc = rendered_production.get("Service", f"{FULL}-processor-metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    ingress = rendered_production.get("Ingress", f"{FULL}-serve")
    assert ingress["spec"]["tls"][0]["hosts"] == ["risk-history.example.com"]


@pytest.mark.parametrize("which", ["default", "production"])
def test_manifests_valid_against_kubernetes_1_37(
    which: str, rendered_default: Rendered, rendered_production: Rendered,
    tmp_path: Any,
) -> None:
    import yaml

    rendered = {"default": rendered_default, "production": rendered_production}[which]
    core = [d for d in rendered.docs if d["kind"] not in CRD_KINDS]
    path = tmp_path / f"{which}.yaml"
    path.write_text(yaml.safe_dump_all(core))
    out = run([tool("kubernetes-validate"), "-k", "1.37.0", "--strict", str(path)], check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("passed for resource") == len(core)
    # the CRD objects have no schema here: check what their operators require
    for doc in rendered.docs:
        if doc["kind"] in CRD_KINDS:
            assert doc["apiVersion"] in ("monitoring.coreos.com/v1", "keda.sh/v1alpha1")
            assert doc["metadata"]["namespace"] == "risk" and doc["spec"]


def test_checkov_finds_nothing_and_every_skip_is_justified(
    checkov_reports: dict[str, dict[str, Any]],
) -> None:
    for which, report in checkov_reports.items():
        assert len(report["passed"]) > 200, f"checkov ran too few checks on {which}"
        failed = [f"{c['check_id']} {c['resource']}" for c in report["failed"]]
        assert not failed, f"checkov failures in {which}: {failed}"
        for check in report["skipped"]:
            assert check["check_id"] in ALLOWED_SKIPS, check["check_id"]
            reason = check["check_result"].get("suppress_comment") or ""
            assert len(reason) > 20, f"{check['check_id']} skipped without a reason"


def test_digest_pinning_removes_the_digest_skip() -> None:
    digest = "sha256:" + "a" * 64
    rendered = helm_template("--set", f"image.digest={digest}")
    for name, spec in pod_specs(rendered):
        assert spec["containers"][0]["image"].endswith("@" + digest), name
    for doc in rendered.docs:
        assert "CKV_K8S_43" not in json.dumps(doc["metadata"].get("annotations", {}))


def test_pods_are_locked_down(rendered_production: Rendered) -> None:
    for name, spec in pod_specs(rendered_production):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 10000, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert c["resources"]["requests"] and c["resources"]["limits"], name
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], name


def test_probes_use_the_ops_endpoints(rendered_default: Rendered) -> None:
    def probe(component: str, kind: str) -> dict[str, Any]:
        dep = rendered_default.get("Deployment", f"{FULL}-{component}")
        return dep["spec"]["template"]["spec"]["containers"][0][kind]

    assert probe("processor", "livenessProbe")["httpGet"]["path"] == "/healthz"
    assert probe("processor", "readinessProbe")["httpGet"]["path"] == "/readyz"
    assert probe("processor", "startupProbe")["httpGet"]["path"] == "/healthz"
    assert probe("sink", "readinessProbe")["httpGet"]["path"] == "/readyz"
    assert "tcpSocket" in probe("sink", "livenessProbe")  # ClickHouse down is not a restart
    assert probe("serve", "livenessProbe")["httpGet"]["path"] == "/healthz"
    dep = rendered_default.get("Deployment", f"{FULL}-processor")
    port = dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    config = rendered_default.get("ConfigMap", f"{FULL}-processor")["data"]
    assert str(port) == config["GREEKSTREAM_HTTP__PORT"]


def test_listeners_bind_every_interface_explicitly(rendered_default: Rendered) -> None:
    """The CLI binds loopback by default; in a pod each listener must say 0.0.0.0."""
    for component in ("processor", "sink", "serve"):
        config = rendered_default.get("ConfigMap", f"{FULL}-{component}")["data"]
        assert config["GREEKSTREAM_HTTP__HOST"] == "0.0.0.0", component


def test_hooks_run_topics_then_migrations_before_the_release(rendered_default: Rendered) -> None:
    topics = rendered_default.get("Job", f"{FULL}-topics")
    migrate = rendered_default.get("Job", f"{FULL}-migrate")
    for job in (topics, migrate):
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    weight = int(topics["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert weight < int(migrate["metadata"]["annotations"]["helm.sh/hook-weight"])
    args = topics["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["topics", "create", "--partitions", "6", "--market-partitions", "3"]
    margs = migrate["spec"]["template"]["spec"]["containers"][0]["args"]
    assert margs == ["history", "migrate", "$(GREEKSTREAM_CLICKHOUSE_DSN)"]


def test_the_hook_jobs_network_policies_exist_before_them(rendered_default: Rendered) -> None:
    """Under a namespace's default-deny NetworkPolicy, the first install's hook Jobs could
    reach neither Kafka nor ClickHouse: their policies were release resources, which Helm
    creates after the pre-install hooks. They are hooks themselves now, weighted first,
    and kept until the next hook run (not deleted once created, as a Job is)."""
    for component in ("topics", "migrate"):
        policy = rendered_default.get("NetworkPolicy", f"{FULL}-{component}")
        job = rendered_default.get("Job", f"{FULL}-{component}")
        notes = policy["metadata"].get("annotations", {})
        assert notes.get("helm.sh/hook") == job["metadata"]["annotations"]["helm.sh/hook"]
        assert int(notes["helm.sh/hook-weight"]) < int(
            job["metadata"]["annotations"]["helm.sh/hook-weight"])
        assert notes["helm.sh/hook-delete-policy"] == "before-hook-creation"
        selector = policy["spec"]["podSelector"]["matchLabels"]
        assert selector.items() <= job["spec"]["template"]["metadata"]["labels"].items()
    for component in ("processor", "sink", "serve"):  # release resources, as before
        policy = rendered_default.get("NetworkPolicy", f"{FULL}-{component}")
        assert "helm.sh/hook" not in policy["metadata"].get("annotations", {})


def test_secrets_are_referenced_never_inlined(rendered_all_settings: Rendered) -> None:
    secret_fields = {"GREEKSTREAM_KAFKA__SASL_USERNAME", "GREEKSTREAM_KAFKA__SASL_PASSWORD",
                     "GREEKSTREAM_KAFKA__SSL_KEY_PASSWORD", "GREEKSTREAM_CLICKHOUSE_DSN",
                     "GREEKSTREAM_TOKENS_JSON"}
    seen = set()
    for name, spec in pod_specs(rendered_all_settings):
        for env in spec["containers"][0].get("env", []):
            if env["name"] in secret_fields:
                assert "secretKeyRef" in env["valueFrom"], (name, env)
                seen.add(env["name"])
    assert seen == secret_fields
    for cm in rendered_all_settings.kind("ConfigMap"):
        assert not secret_fields & set(cm["data"]), cm["metadata"]["name"]
    assert not rendered_all_settings.kind("Secret")


BAD_VALUES = {
    "negative replicas": (["--set", "processor.replicaCount=-1"], "minimum"),
    "missing ClickHouse secret name": (["--set", "clickhouse.existingSecret="], "minLength"),
    "missing tokens secret name": (["--set", "serve.tokens.existingSecret="], "minLength"),
    "SASL without its secret": (
        ["--set", "kafka.settings.security_protocol=SASL_SSL",
         "--set", "kafka.settings.sasl_mechanism=SCRAM-SHA-512"], "existingSecret"),
    "unknown settings field": (["--set", "processor.settings.batch_size=3"], "batch_size"),
    "bad enum": (["--set", "sink.settings.log_level=LOUD"], "log_level"),
    "zero batch": (["--set", "sink.settings.batch_rows=0"], "batch_rows"),
    "port out of range": (["--set", "serve.settings.http.port=70000"], "port"),
    "inline password": (["--set", "kafka.settings.sasl_password=hunter2"], "sasl_password"),
    "replicas above partitions": (["--set", "processor.replicaCount=7"], "topics.partitions"),
    "KEDA and HPA together": (
        ["--set", "processor.keda.enabled=true", "--set", "processor.autoscaling.enabled=true"],
        "not both"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_are_rejected(case: str) -> None:
    args, expected = BAD_VALUES[case]
    out = run([tool("helm"), "template", RELEASE, str(CHART), *args], check=False)
    assert out.returncode != 0, f"{case}: accepted"
    assert expected in out.stderr, out.stderr


@pytest.mark.parametrize(("name", "key", "env_name"), [
    ("scenarios", "scenarios.yaml", "GREEKSTREAM_ENGINE__SCENARIOS_FILE"),
    ("returns", "returns.csv", "GREEKSTREAM_ENGINE__RETURNS_FILE"),
])
def test_a_file_in_values_reaches_the_processor_and_serve(
    rendered_all_settings: Rendered, rendered_default: Rendered, tmp_path: Path,
    name: str, key: str, env_name: str,
) -> None:
    """processor.scenarios (a scenario file) and processor.returns (a returns CSV): a
    ConfigMap, mounted read-only, named by the engine setting; absent by default. serve
    mounts it too: its what-if and as-of replays re-derive the processors' numbers."""
    from greekstream.runtime.returns_file import load_returns
    from greekstream.runtime.scenario_files import load

    assert not [d for d in rendered_default.docs
                if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith(f"-{name}")]
    (cm,) = [d for d in rendered_all_settings.docs
             if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith(f"-{name}")]
    path = tmp_path / key
    path.write_text(cm["data"][key])
    if name == "scenarios":
        assert load(path).named, "the shipped stress library, rendered intact"
    else:
        assert len(load_returns(path)) == 3, "the returns file, rendered intact"
    configmaps = {d["metadata"]["name"]: d["data"] for d in rendered_all_settings.docs
                  if d["kind"] == "ConfigMap"}
    for component in ("processor", "serve"):
        (deployment,) = [d for d in rendered_all_settings.docs if d["kind"] == "Deployment"
                         and d["metadata"]["name"].endswith(f"-{component}")]
        pod = deployment["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == name]
        assert volume["configMap"]["name"] == cm["metadata"]["name"]
        (container,) = pod["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == name]
        assert mount["readOnly"] is True
        env = {}
        for source in container.get("envFrom", []):
            env.update(configmaps[source["configMapRef"]["name"]])
        assert env[env_name] == f"{mount['mountPath']}/{key}", component


@pytest.mark.parametrize("name", ["scenarios", "returns"])
def test_a_changed_file_in_values_rolls_the_pods_that_read_it(name: str, tmp_path: Path) -> None:
    """processor.scenarios / processor.returns are read once, at start, by the processor
    and serve. A `helm upgrade` that changes the file's text must change their pod
    templates (a rollout); it used to change only the ConfigMap, so the running pods kept
    the old file and any pod restarted later read the new one: replicas on two different
    scenario grids or returns histories."""
    def templates(text: str) -> dict[str, dict[str, Any]]:
        path = tmp_path / f"{name}.txt"
        path.write_text(text)
        rendered = helm_template("--set-file", f"processor.{name}={path}")
        return {d["metadata"]["name"]: d["spec"]["template"] for d in rendered.kind("Deployment")}

    before = templates("date,BTC\n2026-01-01,0.01\n")
    after = templates("date,BTC\n2026-01-01,0.02\n")
    for component in ("processor", "serve"):
        assert before[f"{FULL}-{component}"] != after[f"{FULL}-{component}"], component
    assert before[f"{FULL}-sink"] == after[f"{FULL}-sink"]  # it reads neither file


KEDA = ["--set", "processor.keda.enabled=true", "--set", "kafka.tls.existingSecret=kafka-tls"]


@pytest.mark.parametrize(("values", "params"), [
    # mutual TLS: the scaler must present the client certificate the brokers ask for
    (["--set", "kafka.settings.security_protocol=SSL", "--set", "kafka.tls.caKey=",
      "--set", "kafka.tls.certificateKey=tls.crt", "--set", "kafka.tls.keyKey=tls.key",
      "--set", "kafka.tls.keyPasswordKey=key-password"],
     {"cert": "tls.crt", "key": "tls.key", "keyPassword": "key-password"}),
    (["--set", "kafka.settings.security_protocol=SSL", "--set", "kafka.tls.caKey=ca.crt",
      "--set", "kafka.tls.certificateKey=tls.crt", "--set", "kafka.tls.keyKey=tls.key"],
     {"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key"}),
    # one-way TLS with the system CA store: nothing to authenticate with
    (["--set", "kafka.settings.security_protocol=SSL", "--set", "kafka.tls.caKey="], {}),
], ids=["mtls", "mtls-private-ca", "system-ca"])
def test_keda_scaler_authenticates_as_the_processors_do(values: list[str],
                                                        params: dict[str, str]) -> None:
    """The KEDA scaler reads the group's lag from the same brokers: it gets every TLS file
    the processors get (keda's kafka scaler: ca, cert, key, keyPassword). With mutual TLS
    it used to get none (a TriggerAuthentication with no secretTargetRef), and brokers
    that require a client certificate refused it: no lag, no scaling."""
    rendered = helm_template(*KEDA, *values)
    scaled = rendered.get("ScaledObject", f"{FULL}-processor")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["tls"] == "enable"
    auths = rendered.kind("TriggerAuthentication")
    if not params:
        assert not auths and "authenticationRef" not in trigger
        return
    (auth,) = auths
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert {p: r["key"] for p, r in refs.items()} == params
    assert {r["name"] for r in refs.values()} == {"kafka-tls"}


def _startup_bounds() -> dict[str, float]:
    """How long each long-running command may wait, before it listens, for what it needs:
    the processor and the sink for the broker (their --connect-timeout default), serve
    for ClickHouse (one request's send_receive_timeout, history/client.py)."""
    import argparse
    from types import SimpleNamespace

    from greekstream.commands import process, sink
    from greekstream.history import client

    bounds = {}
    for name, command in (("processor", process), ("sink", sink)):
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        bounds[name] = parser.parse_args([]).connect_timeout
    seen: dict[str, Any] = {}
    fake = SimpleNamespace(get_client=lambda **kw: seen.update(kw))
    client._client(fake, client.parse_dsn("http://u:p@ch:8123/greekstream"), None)
    bounds["serve"] = float(seen["send_receive_timeout"])
    return bounds


def test_liveness_cannot_end_a_startup_wait_the_command_bounds(
        rendered_default: Rendered) -> None:
    """A liveness probe that fails from the container's start kills it after about
    initialDelaySeconds + periodSeconds x (failureThreshold - 1) (50 s here). The sink
    listens only after the broker answered (up to 60 s) and serve only after ClickHouse did
    (a request may take 60 s): without a startup probe a slow broker or a waking ClickHouse
    Cloud service had the pod killed mid-wait, in a loop, with no error of its own logged."""
    for component, bound in _startup_bounds().items():
        dep = rendered_default.get("Deployment", f"{FULL}-{component}")
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        startup = container.get("startupProbe")
        if startup:
            window = startup["periodSeconds"] * startup["failureThreshold"]
        else:
            live = container["livenessProbe"]
            window = live.get("initialDelaySeconds", 0) + live.get("periodSeconds", 10) * (
                live.get("failureThreshold", 3) - 1)
        assert window > bound, f"{component}: killable after {window} s, waits up to {bound} s"


@pytest.mark.parametrize("which", ["default", "production"])
def test_the_processor_rolls_one_pod_at_a_time(
        which: str, rendered_default: Rendered, rendered_production: Rendered) -> None:
    """docs/deploy.md: "the processor rolls one pod at a time". A PodDisruptionBudget does
    not govern a rollout: the Deployment's strategy does, and its default (25 % surge, 25 %
    unavailable) replaced up to 6 of 12 processors at once, each a rebalance of the group
    with restores, and took pods down before their replacements had restored."""
    rendered = {"default": rendered_default, "production": rendered_production}[which]
    dep = rendered.get("Deployment", f"{FULL}-processor")
    strategy = dep["spec"].get("strategy", {})
    assert strategy.get("type", "RollingUpdate") == "RollingUpdate"
    rolling = strategy.get("rollingUpdate", {})
    assert rolling.get("maxSurge", "25%") == 1 and rolling.get("maxUnavailable", "25%") == 0


@pytest.mark.parametrize("args", [
    ["--set", "serve.settings.queries.replay_spool_mb=512"],  # 6 x 512 MiB in a 1 GiB /tmp
    ["--set", "serve.tmpSizeLimit=512Mi"],  # 6 x 128 MiB in 512 MiB
    ["--set", "serve.tmpSizeLimit=786432Ki"],  # exactly 768 MiB: no room left
], ids=["spool-mb", "size-limit", "equal"])
def test_replay_spools_must_fit_serves_tmp(args: list[str]) -> None:
    """serve spools replays under /tmp, at most replay_spools x replay_spool_mb, to answer
    a 507/503 rather than fill it; an emptyDir past its sizeLimit gets the pod evicted
    (every request on it lost). The chart accepted a /tmp smaller than that bound, which
    values.yaml and docs/history.md say to avoid; it is now refused at install."""
    out = run([tool("helm"), "template", RELEASE, str(CHART), *args], check=False)
    assert out.returncode != 0, "accepted"
    assert "tmpSizeLimit" in out.stderr and "replay_spool_mb" in out.stderr, out.stderr
    fits = helm_template("--set", "serve.tmpSizeLimit=2Gi",
                         "--set", "serve.settings.queries.replay_spool_mb=256")
    assert fits.get("Deployment", f"{FULL}-serve")


@pytest.mark.parametrize("which", ["default", "production"])
def test_serve_stops_after_its_longest_request(
        which: str, rendered_default: Rendered, rendered_production: Rendered) -> None:
    """On SIGTERM serve stops accepting and waits for the requests in flight (uvicorn's
    graceful shutdown): a replay answers within queries.replay_timeout_s (120 s, then 504),
    a query waits connection_wait_s for a connection and runs up to query_timeout_s. The
    chart's 30 s grace SIGKILLed them mid-answer at every rollout or drain: the client got
    a reset connection, not the answer or the documented 504."""
    rendered = {"default": rendered_default, "production": rendered_production}[which]
    config = rendered.get("ConfigMap", f"{FULL}-serve")["data"]
    longest = max(float(config["GREEKSTREAM_QUERIES__REPLAY_TIMEOUT_S"]),
                  float(config["GREEKSTREAM_QUERIES__CONNECTION_WAIT_S"])
                  + float(config["GREEKSTREAM_QUERIES__QUERY_TIMEOUT_S"]))
    pod = rendered.get("Deployment", f"{FULL}-serve")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    # the grace period counts from the preStop sleep: what is left after it is SIGTERM's
    slept = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    assert pod["terminationGracePeriodSeconds"] - slept > longest


def test_a_serve_grace_shorter_than_its_requests_is_refused() -> None:
    out = run([tool("helm"), "template", RELEASE, str(CHART),
               "--set", "serve.settings.queries.replay_timeout_s=600"], check=False)
    assert out.returncode != 0, "accepted"
    assert "terminationGracePeriodSeconds" in out.stderr and "replay_timeout_s" in out.stderr
    # 124 s: above the 120 s replay, but not once the 5 s preStop sleep is taken from it
    out = run([tool("helm"), "template", RELEASE, str(CHART),
               "--set", "serve.terminationGracePeriodSeconds=124"], check=False)
    assert out.returncode != 0, "accepted"
    assert "preStopSleepSeconds (119)" in out.stderr, out.stderr


def test_a_stopping_serve_pod_answers_until_its_endpoint_is_gone(
        rendered_default: Rendered) -> None:
    """A rollout or drain removes serve's endpoint while the pod gets SIGTERM; kube-proxy
    and the ingress learn of the removal a moment later and still send it new requests,
    which a pod that stopped accepting refused (a connection reset at every rollout).
    A preStop sleep keeps it answering through that moment; the other components take no
    requests from a Service and stop at once."""
    pod = rendered_default.get("Deployment", f"{FULL}-serve")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    for component in ("processor", "sink"):
        spec = rendered_default.get("Deployment", f"{FULL}-{component}")["spec"]
        assert "lifecycle" not in spec["template"]["spec"]["containers"][0]
    off = helm_template("--set", "serve.preStopSleepSeconds=0")
    pod = off.get("Deployment", f"{FULL}-serve")["spec"]["template"]["spec"]
    assert "lifecycle" not in pod["containers"][0]


@pytest.mark.parametrize("args", [
    ["--set", "fullnameOverride=" + "f" * 63],
    ["--set", "nameOverride=" + "n" * 20],
], ids=["fullname-63", "name-override"])
def test_long_release_names_give_valid_object_names(args: list[str]) -> None:
    """Helm allows release names of 53 characters. The chart truncated its full name to 63
    and then appended `-processor-metrics`: a long release name rendered names of up to 81
    characters, and a Service's name (or a Job's, in its job-name label) is a DNS label of
    at most 63, so the install was refused. Every name now fits 63."""
    release = "r" * 53
    out = run([tool("helm"), "template", release, str(CHART), "--namespace", "risk", *args])
    import yaml

    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    for rendered in (docs, [d for d in yaml.safe_load_all(run(
            [tool("helm"), "template", release, str(CHART)]).stdout) if d]):
        names = [(d["kind"], d["metadata"]["name"]) for d in rendered]
        too_long = [n for n in names if len(n[1]) > 63]
        assert not too_long, too_long
        assert len(names) == len(set(names))
