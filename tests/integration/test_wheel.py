"""A non-editable install finds everything it needs in its own files: build the wheel,
install it into a fresh virtualenv (dependencies from the test venv's site-packages, so
it is quick), and run `history migrate` and `demo` from a directory with no source tree.
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

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   env=env, timeout=120)
    target = Path(subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, env=env).stdout.strip())
    # the dependencies: this venv's site-packages, added after the fresh one's own
    (target / "deps.pth").write_text(f"{sysconfig.get_path('purelib')}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, env=env, timeout=300, capture_output=True)

    work = tmp_path / "elsewhere"  # no schemas/ or services/ anywhere near
    work.mkdir()
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
