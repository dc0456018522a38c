"""Regenerate docs/img/dashboard.png: the dashboard over the demo store, in headless Chromium.

    make dashboard-png                      # demo-out/chdb (run `make demo` first), else a
                                            # small demo day built into .cache/dashboard-demo
    python scripts/dashboard_png.py --dsn chdb:///ABS/DIR --out shot.png --book desk-a

Serves the store with a throw-away token on a free loopback port, signs in through the
login form as a user does, waits for every panel, and screenshots the page.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test helpers: headless Chromium over DevTools, serving

from tests.integration.history.browser import Browser  # noqa: E402
from tests.integration.history.conftest import _serving  # noqa: E402

SIZE = (1700, 3000)


def demo_store() -> str:
    store = REPO / "demo-out" / "chdb"
    if (store / "metadata").is_dir():
        return f"chdb://{store}"
    out = REPO / ".cache" / "dashboard-demo"
    if not (out / "chdb" / "metadata").is_dir():
        events = out / "events.jsonl"
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "greekstream.cli", "sample", "--out", str(events),
                        "--quiet"], check=True)
        subprocess.run([sys.executable, "-m", "greekstream.cli", "demo", "--events",
                        str(events), "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return f"chdb://{out / 'chdb'}"


def shoot(dsn: str, out: Path, book: str | None, size: tuple[int, int] = SIZE) -> dict:
    """Serve ``dsn``, sign in, wait for the panels, screenshot to ``out``; the page's
    data-* counts."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens.yaml"
        tokens.write_text(f'"{token}": "*"\n')
        with _serving(dsn, tokens) as url, Browser(binary, Path(tmp) / "profile", size) as b:
            page = b.open(f"{url}/" + (f"#book={book}" if book else ""))
            assert page.wait_for("document.body.dataset.ready") == "login"
            page.eval(f"document.getElementById('token').value = '{token}';"
                      "document.getElementById('login').requestSubmit(); true")
            state = page.wait_for("['1', 'error'].includes(document.body.dataset.ready) && "
                                  "document.body.dataset.ready", timeout=90)
            if state != "1":
                raise RuntimeError(page.eval("document.getElementById('status').textContent"))
            counts = page.eval(
                "JSON.stringify({overview: +document.getElementById('overview').dataset.rows,"
                " open: +document.getElementById('open-breaches').dataset.rows,"
                " top: +document.getElementById('top').dataset.rows,"
                " cells: +document.getElementById('matrix').dataset.cells,"
                " intents: +document.getElementById('intents').dataset.rows,"
                " panels: [...document.querySelectorAll('.panel')].map(p => +p.dataset.points),"
                " limits: [...document.querySelectorAll('.panel')].map(p => +p.dataset.limits),"
                " marks: [...document.querySelectorAll('.panel')].map(p => +p.dataset.marks),"
                " clipped: [...document.querySelectorAll('.panel')].map(p => +p.dataset.clipped)})")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(out)
            import json

            return {**json.loads(counts), "console": page.console()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dsn", help="the store to show (default: the demo's)")
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "dashboard.png"))
    p.add_argument("--book", default="treasury", help="the book whose history is shown")
    args = p.parse_args()
    counts = shoot(args.dsn or demo_store(), Path(args.out), args.book)
    print(f"wrote {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
