"""The chart page, rendered by headless Chromium against a real service over real data.

Needs Debian's `chromium`: on CI (CI=true) the test installs it with
scripts/install_chromium.sh; elsewhere, without it, the test is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "artifacts"
ALL_TOKEN = "z" * 32  # conftest's tokens_file
SERIES_BLUE = (0x25, 0x63, 0xEB)  # the first underlying's line colour in index.html


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") != "true":
        pytest.skip("chromium is not installed (apt-get install chromium; CI installs it)")
    subprocess.run(["bash", str(REPO / "scripts" / "install_chromium.sh")], check=True,
                   timeout=600)
    found = shutil.which("chromium")
    assert found, "scripts/install_chromium.sh did not install chromium"
    return found


def run_chromium(binary: str, profile: Path, url: str, *mode: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1280,1500", "--hide-scrollbars",
        "--virtual-time-budget=15000",
    ]
    return subprocess.run([binary, *flags, *mode, url], capture_output=True, timeout=120,
                          check=False)


def test_page_plots_a_books_greeks_and_lists_its_breaches(
    service_url: str, tmp_path: Path
) -> None:
    binary = chromium()
    url = f"{service_url}/#token={ALL_TOKEN}&book=desk-a&bucket=1m"
    dom = run_chromium(binary, tmp_path / "profile-dom", url, "--dump-dom")
    html = dom.stdout.decode()
    assert 'data-ready="1"' in html, html[-2000:] + dom.stderr.decode()[-2000:]
    points = int(re.search(r'data-points="(\d+)"', html)[1])
    breaches = int(re.search(r'data-breaches="(\d+)"', html)[1])
    assert points > 100
    assert html.count('class="series"') >= 4  # a line per Greek panel
    assert html.count("<tr>") == breaches + 1  # header + one row per breach
    assert "desk-a:" in html

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "history_page.png"
    shot.unlink(missing_ok=True)
    result = run_chromium(binary, tmp_path / "profile-shot", url, f"--screenshot={shot}")
    assert shot.exists(), result.stderr.decode()[-2000:]
    pixels = (image.imread(shot)[..., :3] * 255).round().astype(int)
    blue = np.all(np.abs(pixels - np.array(SERIES_BLUE)) <= 8, axis=-1).sum()
    assert blue > 500, "the plotted series are not visible in the screenshot"
