"""Fixtures for the deployment checks: the offline tools, rendered charts, one checkov run.

The tools (helm, kubectl, docker-compose, kubernetes-validate, checkov) come from
scripts/install_tools.py, which `make test` and `make tools` run into .cache/tools. A missing
tool fails the test with the command that installs it: these checks never skip silently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "greekstream"
PRODUCTION = CHART / "values-production.yaml"
COMPOSE = REPO / "docker-compose.yml"
OVERRIDE = REPO / "compose.override.example.yml"
TOOLS_BIN = REPO / ".cache" / "tools" / "bin"
NAMESPACE = "risk"
RELEASE = "gs"
# what compose.override.example.yml needs from the environment (its ${VAR:?} names)
OVERRIDE_ENV = {
    "KAFKA_BOOTSTRAP": "b-1.example:9096", "KAFKA_USERNAME": "greekstream",
    "KAFKA_PASSWORD": "secret", "CLICKHOUSE_DSN": "https://u:p@ch.example:8443/greekstream",
}


def tool(name: str) -> str:
    """The path of an installed tool, else a failure that says how to install it."""
    for candidate in (TOOLS_BIN / name,):
        if candidate.exists() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"{name} is not installed: run `make tools` "
                f"(python scripts/install_tools.py --dest .cache/tools)", pytrace=False)


def run(cmd: Sequence[str], *, check: bool = True, env: dict[str, str] | None = None,
        cwd: Path = REPO, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}",
                    pytrace=False)
    return proc


@dataclass(frozen=True)
class Rendered:
    text: str
    docs: list[dict[str, Any]]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        (doc,) = [d for d in self.kind(kind) if d["metadata"]["name"] == name]
        return doc


def helm_template(*args: str) -> Rendered:
    out = run([tool("helm"), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args])
    return Rendered(out.stdout, [d for d in yaml.safe_load_all(out.stdout) if d])


# every option that renders a settings field not in the default or production values
ALL_SETTINGS = ("-f", str(PRODUCTION),
                "--set", "kafka.tls.certificateKey=tls.crt", "--set", "kafka.tls.keyKey=tls.key",
                "--set", "kafka.tls.keyPasswordKey=key-password",
                "--set", "serve.tokens.jsonKey=tokens.json",
                "--set-file", "processor.scenarios="
                + str(REPO / "services" / "greekstream" / "data" / "stress_scenarios.yaml"),
                "--set-file", "processor.returns=" + str(Path(__file__).parent / "returns.csv"))


@pytest.fixture(scope="session")
def rendered_default() -> Rendered:
    return helm_template()


@pytest.fixture(scope="session")
def rendered_production() -> Rendered:
    return helm_template("-f", str(PRODUCTION))


@pytest.fixture(scope="session")
def rendered_all_settings() -> Rendered:
    return helm_template(*ALL_SETTINGS)


@pytest.fixture(scope="session")
def checkov_reports(tmp_path_factory: pytest.TempPathFactory, rendered_default: Rendered,
                    rendered_production: Rendered) -> dict[str, dict[str, Any]]:
    """One checkov run (it is the slow tool) over the default and production renderings."""
    folder = tmp_path_factory.mktemp("checkov")
    files = {"default": rendered_default, "production": rendered_production}
    for name, rendered in files.items():
        (folder / f"{name}.yaml").write_text(rendered.text)
    out = run([tool("checkov"), "--framework", "kubernetes", "--skip-download",
               "-o", "json", *[a for n in files for a in ("-f", str(folder / f"{n}.yaml"))]],
              check=False, env={"LOG_LEVEL": "ERROR"})
    reports = json.loads(out.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    by_file: dict[str, dict[str, Any]] = {n: {"passed": [], "failed": [], "skipped": []}
                                          for n in files}
    for report in reports:
        results = report.get("results", {})
        for outcome in ("passed", "failed", "skipped"):
            for check in results.get(f"{outcome}_checks", []):
                name = Path(check["file_path"]).stem
                by_file[name][outcome].append(check)
    return by_file


@pytest.fixture(scope="session")
def compose_config() -> dict[str, Any]:
    out = run([tool("docker-compose"), "-f", str(COMPOSE), "config"])
    return yaml.safe_load(out.stdout)


@pytest.fixture(scope="session")
def compose_override_config() -> dict[str, Any]:
    out = run([tool("docker-compose"), "-f", str(COMPOSE), "-f", str(OVERRIDE), "config"],
              env=OVERRIDE_ENV)
    return yaml.safe_load(out.stdout)
