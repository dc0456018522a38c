"""The image: Dockerfile properties, the lock file, and every command the chart and compose run
works in the image's entrypoint form (`ENTRYPOINT + args + --help` exits 0)."""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.deploy.conftest import REPO, Rendered, run
from tests.deploy.test_settings_mapping import chart_containers, compose_containers

DOCKERFILE = (REPO / "Dockerfile").read_text()
VENV_BIN = Path(sys.executable).parent


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


STAGES: list[list[tuple[str, str]]] = []
for ins in instructions(DOCKERFILE):
    if ins[0] == "FROM":
        STAGES.append([])
    if STAGES:
        STAGES[-1].append(ins)
FINAL = STAGES[-1]


def final(word: str) -> list[str]:
    return [rest for w, rest in FINAL if w == word]


def test_multi_stage_slim_base() -> None:
    assert len(STAGES) >= 2
    assert re.search(r"^ARG BASE=python:3\.11-slim", DOCKERFILE, re.M)
    assert all(stage[0][1].startswith("${BASE}") for stage in STAGES)
    assert any("--from=build" in rest for rest in final("COPY"))


def test_final_stage_runs_as_non_root_without_build_tools() -> None:
    (user,) = final("USER")
    assert user.split(":")[0] not in ("0", "root") and int(user.split(":")[0]) >= 10000
    runs = " ".join(final("RUN"))
    for banned in ("apt-get install", "gcc", "build-essential", "pip install"):
        assert banned not in runs, banned
    build = " ".join(rest for w, rest in STAGES[0] if w == "RUN")
    assert "--only-binary=:all:" in build and "-r requirements.lock" in build
    assert "pip uninstall -y setuptools wheel pip" in build
    assert "PIP_NO_CACHE_DIR=1" in DOCKERFILE


def test_healthcheck_entrypoint_and_labels() -> None:
    assert final("HEALTHCHECK") and "/healthz" in final("HEALTHCHECK")[0]
    assert json.loads(final("ENTRYPOINT")[0]) == ["greekstream"]
    labels = " ".join(final("LABEL"))
    for key in ("title", "description", "version", "revision", "created", "licenses", "source"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_healthcheck_script_is_valid_python() -> None:
    (hc,) = final("HEALTHCHECK")
    argv = json.loads(hc[hc.index("CMD") + 3:].strip())
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "HEALTHCHECK", "exec")


def test_dockerignore_lets_in_only_what_the_build_copies() -> None:
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    copied = set()
    for rest in [rest for stage in STAGES for w, rest in stage if w == "COPY"]:
        if "--from=" in rest:
            continue
        copied |= {p.rstrip("/") for p in rest.split()[:-1]}
    assert copied == allowed


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        if line and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[_norm(req.name)] = spec.version
    return pins


def test_lock_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = lock_pins("requirements.lock")
    for dep in project["dependencies"]:
        req = Requirement(dep)
        name = _norm(req.name)
        assert name in pins, f"{name} is not pinned in requirements.lock"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} outside {dep}"


def entrypoint_commands(rendered: list[Rendered], compose: list[dict[str, Any]]) -> set[tuple]:
    commands = set()
    for r in rendered:
        commands |= {tuple(args) for _, args, _ in chart_containers(r)}
    for config in compose:
        commands |= {tuple(args) for _, args, _ in compose_containers(config)}
    return commands


def test_every_command_is_a_real_subcommand_in_entrypoint_form(
    rendered_default: Rendered, rendered_production: Rendered,
    compose_config: dict[str, Any], compose_override_config: dict[str, Any],
) -> None:
    (entry,) = json.loads(final("ENTRYPOINT")[0])
    commands = entrypoint_commands([rendered_default, rendered_production],
                                   [compose_config, compose_override_config])
    assert {c[0] for c in commands} == {"process", "sink", "serve", "topics", "history",
                                        "produce"}
    for args in sorted(commands):
        out = run([str(VENV_BIN / entry), *args, "--help"], check=False, timeout=120)
        assert out.returncode == 0, f"{entry} {' '.join(args)} --help:\n{out.stderr}"
        assert out.stdout.startswith("usage: greekstream"), args


def test_help_fails_for_a_command_that_does_not_exist() -> None:
    """The check above can fail."""
    out = run([str(VENV_BIN / "greekstream"), "proces", "--help"], check=False)
    assert out.returncode != 0


@pytest.mark.parametrize("cmd", [["topics", "create"], ["history", "migrate"]])
def test_one_shot_commands_take_their_arguments(cmd: list[str]) -> None:
    out = run([str(VENV_BIN / "greekstream"), *cmd, "--help"])
    assert "usage: greekstream " + cmd[0] in out.stdout


def _closure(requirements: list[str]) -> set[str]:
    """Every distribution ``requirements`` need, by the installed packages' metadata."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        if _norm(req.name) in seen:
            continue
        seen.add(_norm(req.name))
        todo += [Requirement(r) for r in importlib.metadata.requires(req.name) or []]
    return seen


def test_the_default_image_has_no_embedded_clickhouse() -> None:
    """chDB (~0.8 GB with pandas and pyarrow) is the extra `embedded`: pinned apart in
    requirements-embedded.lock, which the demo image alone installs (EXTRAS=embedded)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(_norm(Requirement(d).name) == "chdb" for d in project["dependencies"])
    extra = project["optional-dependencies"]["embedded"]
    base, embedded = lock_pins("requirements.lock"), lock_pins("requirements-embedded.lock")
    assert not base.keys() & embedded.keys()
    for dep in extra:
        req = Requirement(dep)
        assert _norm(req.name) in embedded, f"{dep} is not pinned in requirements-embedded.lock"
        assert req.specifier.contains(embedded[_norm(req.name)]), dep
    only_embedded = _closure(project["dependencies"] + extra) - _closure(project["dependencies"])
    assert {"chdb", "pandas", "pyarrow"} <= only_embedded
    assert set(embedded) == only_embedded  # pinned there, and in no way in the default lock
    assert not only_embedded & base.keys()


def test_only_the_demo_build_installs_the_embedded_lock() -> None:
    (extras,) = [rest for w, rest in STAGES[0] if w == "ARG" and rest.startswith("EXTRAS")]
    assert extras == "EXTRAS"  # the build stage takes the global ARG ...
    assert re.search(r"^ARG EXTRAS=$", DOCKERFILE, re.M)  # ... which is empty by default
    build = " ".join(rest for w, rest in STAGES[0] if w == "RUN")
    case = re.search(r'case "\$\{EXTRAS\}" in (.*?) esac', build)
    assert case, build
    branches = [b.strip() for b in case.group(1).split(";;")]
    assert branches[0] == '"")'  # nothing for the default image
    assert branches[1].startswith("embedded)") and "-r requirements-embedded.lock" in branches[1]
    assert "requirements-embedded.lock" not in build.replace(case.group(0), "")
    assert branches[2].startswith("*)") and "exit 1" in branches[2]
