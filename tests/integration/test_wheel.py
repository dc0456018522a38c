"""A non-editable install finds everything it needs in its own files: build the wheel,
install it into a fresh virtualenv (dependencies from the test venv's site-packages, so
it is quick), and run `history migrate` and `demo` from a directory with no source tree.
chDB is the extra `embedded`: the wheel requires it only with that extra, and installed
without it (the same site-packages minus chDB), a chdb:// DSN is a clear error, exit 2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from greekstream.sample.generate import write_sample

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GREEKSTREAM_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def test_the_wheel_holds_its_migrations_and_runs_migrate_and_demo(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("services", "schemas"):
        shutil.copytree(REPO / name, src / name, symlinks=True, ignore=ignore)
    env = _clean_env()
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist),
                    str(src)], check=True, env=env, timeout=300, capture_output=True)
    (wheel,) = dist.glob("greekstream-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.rsplit("/", 1)[1] for n in names
                     if n.startswith("greekstream/history/migrations/"))
    assert shipped == sorted(p.name for p in (REPO / "schemas" / "clickhouse").glob("*.sql"))
    assert "greekstream/api/static/app.js" in names
    (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    requires = [ln.split(":", 1)[1].strip()
                for ln in zipfile.ZipFile(wheel).read(meta).decode().splitlines()
                if ln.startswith("Requires-Dist:")]
    assert [r for r in requires if r.startswith("chdb")] == ['chdb>=3.0; extra == "embedded"']
    assert "Provides-Extra: embedded" in zipfile.ZipFile(wheel).read(meta).decode()

    deps = Path(sysconfig.get_path("purelib"))
    venv, target = _install(wheel, tmp_path / "venv", deps, env)  # with the extra `embedded`
    # without it: the same dependencies, chDB's own files left out
    no_chdb = tmp_path / "deps-without-chdb"
    no_chdb.mkdir()
    for entry in deps.iterdir():
        if "chdb" not in entry.name.lower():
            (no_chdb / entry.name).symlink_to(entry)
    bare, _ = _install(wheel, tmp_path / "venv-bare", no_chdb, env)

    work = tmp_path / "elsewhere"  # no schemas/ or services/ anywhere near
    work.mkdir()
    for argv in (["history", "migrate", f"chdb://{tmp_path / 'bare-store'}"],
                 ["demo", "--out", str(tmp_path / "bare-out")]):
        done = subprocess.run([str(bare / "bin" / "greekstream"), *argv], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2, done.stderr[-3000:]
        assert done.stderr.startswith(f"greekstream {argv[0]}: error: the embedded ClickHouse "
                                      "(chDB) is not installed"), done.stderr[-3000:]
        assert "hint: pip install 'greekstream[embedded]'" in done.stderr
    assert not (tmp_path / "bare-store").exists() and not (tmp_path / "bare-out").exists()

    greekstream = str(venv / "bin" / "greekstream")
    where = subprocess.run([venv / "bin" / "python", "-c",
                            "import greekstream; print(greekstream.__file__)"],
                           cwd=work, env=env, check=True, capture_output=True, text=True)
    assert where.stdout.startswith(str(target)), where.stdout

    dsn = f"chdb://{tmp_path / 'store'}"
    done = subprocess.run([greekstream, "history", "migrate", dsn], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "0001_raw_events" in done.stdout and "0003_exposure_rollups" in done.stdout

    events = tmp_path / "day.jsonl"
    write_sample(events, "kafka-test", seed=5, show_progress=False)
    done = subprocess.run([greekstream, "demo", "--events", str(events), "--out",
                           str(tmp_path / "out")], cwd=work, env=env, capture_output=True,
                          text=True, timeout=500, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Exposures as of" in done.stdout and "stored in ClickHouse" in done.stderr


def _install(wheel: Path, venv: Path, deps: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """A fresh venv holding the wheel; its dependencies come from ``deps`` (a .pth after its
    own site-packages). Returns the venv and its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   env=env, timeout=120)
    target = Path(subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, env=env).stdout.strip())
    (target / "deps.pth").write_text(f"{deps}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, env=env, timeout=300, capture_output=True)
    return venv, target
