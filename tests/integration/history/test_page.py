"""The chart page, rendered by headless Chromium against a real service over real data,
driven over the DevTools protocol (tests/integration/history/browser.py).

Needs Debian's `chromium`: on CI (CI=true) the test installs it with
scripts/install_chromium.sh; elsewhere, without it, the test is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from matplotlib import image
from tests.integration.history.browser import Browser, Page
from tests.integration.history.conftest import _serving

from greekstream.history import write_replay
from greekstream.runtime.replay import read_records, replay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "artifacts"
ALL_TOKEN = "z" * 32  # conftest's tokens_file
SERIES_BLUE = (0x25, 0x63, 0xEB)  # the first series' line colour in app.js / app.css
TITLE = "greekstream — desk risk"


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


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    with Browser(chromium(), tmp_path / "profile") as b:
        yield b


def sign_in(page: Page, token: str) -> str:
    """Type the token into the login form, as a user does; return data-ready's value."""
    assert page.wait_for("document.body.dataset.ready") == "login"
    page.eval(f"document.getElementById('token').value = {orjson.dumps(token).decode()};"
              "document.getElementById('login').requestSubmit(); true")
    return str(page.wait_for(
        "['1', 'error'].includes(document.body.dataset.ready) && document.body.dataset.ready"))


def test_page_plots_a_books_greeks_and_lists_its_breaches(
    service_url: str, browser: Browser
) -> None:
    page = browser.open(f"{service_url}/#book=desk-a&bucket=1m")
    assert sign_in(page, ALL_TOKEN) == "1", page.dom()[-2000:]
    html = page.dom()
    points = int(re.search(r'data-points="(\d+)"', html)[1])
    breaches = int(re.search(r'data-breaches="(\d+)"', html)[1])
    assert points > 100
    panel_points = page.eval("[...document.querySelectorAll('.panel')]"
                             ".map((p) => +p.dataset.points)")
    assert len(panel_points) >= 4 and min(panel_points) > 0  # a plotted line per Greek panel
    rows = page.eval("document.getElementById('breaches').tBodies[0].rows.length")
    assert rows == breaches  # one row per breach
    assert "desk-a:" in html
    # 1-minute buckets go back 7 days from the last stored event (a series answer holds
    # at most 100,000 rows: a month of minutes of a few underlyings is past it)
    as_of = page.eval(
        "fetch('/v1/overview', {headers: {Authorization: 'Bearer ' + "
        "sessionStorage.getItem('greekstream.token')}}).then((r) => r.json())"
        ".then((o) => o.as_of)")
    start = page.eval("document.body.dataset.seriesFrom")
    assert np.datetime64(as_of.rstrip("Z")) - np.datetime64(start.rstrip("Z")) == \
        np.timedelta64(7, "D"), (as_of, start)
    assert "the last 7 days, UTC)" in page.eval("document.getElementById('book-title').textContent")
    # the token lives in the tab's sessionStorage, never in the URL
    assert ALL_TOKEN not in page.eval("location.href")
    assert page.eval("sessionStorage.getItem('greekstream.token')") == ALL_TOKEN

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "history_page.png"
    shot.unlink(missing_ok=True)
    page.screenshot(shot)
    pixels = (image.imread(shot)[..., :3] * 255).round().astype(int)
    blue = np.all(np.abs(pixels - np.array(SERIES_BLUE)) <= 8, axis=-1).sum()
    assert blue > 500, "the plotted series are not visible in the screenshot"

    # a refused token sends the user back to the login form, and is forgotten
    page.eval("sessionStorage.setItem('greekstream.token', 'not-a-token-at-all!'); true")
    page.goto(f"{service_url}/")
    assert page.wait_for("document.body.dataset.ready") == "login"
    assert page.eval("sessionStorage.getItem('greekstream.token')") is None


# Names an attacker controls (an `instrument`/`index` underlying, a trade's book): each
# would change the title, set window.pwned, or load an image if it ever became markup.
UNDERLYING = "<img src=x onerror=\"document.title='pwned';window.pwned=1\">"
BOOK = "</script><script>document.title='pwned';window.pwned=2</script><b id=x>"
BOOK_2 = "\"><svg onload=\"document.title='pwned';window.pwned=3\">/desk"


def payload_events(path: Path) -> Path:
    def rec(type_: str, eid: str, second: int, **fields: object) -> bytes:
        return orjson.dumps({"type": type_, "event_id": eid,
                             "ts": f"2026-03-01T00:{second // 60:02d}:{second % 60:02d}Z",
                             **fields})

    lines = [
        rec("instrument", "i1", 0, instrument_id="PWN-PERP", kind="perpetual",
            underlying=UNDERLYING, settlement="linear", contract_size=1),
        rec("index", "x0", 1, underlying=UNDERLYING, price=100.0),
        rec("limits", "l1", 2, book=BOOK, underlying=UNDERLYING, max_abs_delta=1.0),
    ]
    for i in range(60):
        lines.append(rec("quote", f"q{i}", 3 + i * 60, instrument_id="PWN-PERP",
                         mark_price=100.0 + i))
        lines.append(rec("trade", f"t{i}", 4 + i * 60, book=BOOK if i % 2 else BOOK_2,
                         instrument_id="PWN-PERP", side="buy", quantity=1, price=100.0))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_names_carrying_script_run_nothing(
    dsn: str, tokens_file: Path, browser: Browser, tmp_path: Path
) -> None:
    events = payload_events(tmp_path / "payload.jsonl")
    result = replay(read_records(events))
    assert not [o for o in result.outputs if o.type == "rejected"]
    assert any(o.type == "breach" for o in result.outputs)
    write_replay(dsn, read_records(events), result.outputs)
    with _serving(dsn, tokens_file) as url:
        for book in (BOOK, BOOK_2):  # each book's charts, legend and breach rows
            page = browser.open(f"{url}/#book={_fragment(book)}&bucket=1m")
            state = sign_in(page, ALL_TOKEN) if page.eval(
                "document.body.dataset.ready") == "login" else page.wait_for(
                "document.body.dataset.ready")
            assert state == "1", page.dom()[-3000:]
            html = page.dom()
            assert page.eval("document.getElementById('book').value") == book
            assert page.eval("document.title") == TITLE
            assert page.eval("window.pwned") is None
            injected = "document.querySelectorAll('img, [onload], [onerror], #x').length"
            assert page.eval(injected) == 0
            assert page.eval("document.querySelectorAll('script').length") == 1  # app.js
            assert "&lt;img src=x onerror=" in html  # the name is shown, as text
            assert int(re.search(r'data-points="(\d+)"', html)[1]) > 0
            if book == BOOK:
                assert int(re.search(r'data-breaches="(\d+)"', html)[1]) > 0


def _fragment(book: str) -> str:
    from urllib.parse import quote

    return quote(book, safe="")



def test_an_empty_store_says_so_and_where_exposures_come_from(
    dsn: str, tokens_file: Path, browser: Browser
) -> None:
    """Over a store holding nothing yet the overview was a row of headers over nothing and
    Top books was blank. Each says what it lacks, the overview where exposures come from."""
    write_replay(dsn, iter([]), [])
    with _serving(dsn, tokens_file) as url:
        page = browser.open(f"{url}/")
        assert sign_in(page, ALL_TOKEN) == "1"
        shown = page.eval("[document.getElementById('overview').tBodies[0].textContent,"
                          " document.getElementById('top').textContent,"
                          " document.getElementById('status').textContent]")
    assert shown[0].startswith("no exposures stored for the books this token may read: "), shown
    assert "--history" in shown[0] and shown[1:] == ["no exposures stored",
                                                     "no books visible to this token"], shown


HOLD_BOOK_A = """(() => {
    // desk-a's answers are held until window.release(); every fetch is counted in flight
    window.inflight = 0;
    window.held = [];
    window.holding = true;
    window.release = () => {
        window.holding = false;
        for (const go of window.held.splice(0)) go();
        return true;
    };
    const realFetch = window.fetch.bind(window);
    window.fetch = (path, init) => {
        window.inflight += 1;
        const answer = realFetch(path, init);
        const held = window.holding && String(path).startsWith('/v1/books/desk-a/')
            ? answer.then((res) => new Promise((go) => window.held.push(() => go(res))))
            : answer;
        return held.finally(() => { window.inflight -= 1; });
    };
    return true; })()"""


def test_a_late_answer_for_the_book_left_does_not_replace_the_book_chosen(
    dsn: str, tokens_file: Path, browser: Browser, tmp_path: Path
) -> None:
    """A refresh of desk-a still waiting for its answers when the user picks desk-b: the
    late answers were drawn over desk-b's, so the page said desk-b in the book box and
    showed desk-a's charts, breaches, intents and status. A superseded draw is dropped."""
    import time

    from tests.integration.history.conftest import store_trades

    store_trades(dsn, tmp_path, [("desk-a", "buy", 100.0), ("desk-a", "buy", 101.0),
                                 ("desk-b", "sell", 100.0)])
    with _serving(dsn, tokens_file) as url:
        page = browser.open(f"{url}/#book=desk-a&bucket=1m")
        assert sign_in(page, ALL_TOKEN) == "1"
        assert page.eval("document.getElementById('status').textContent").startswith("desk-a:")
        page.eval("document.getElementById('refresh').checked = false;" + HOLD_BOOK_A)
        page.eval("document.getElementById('bucket').dispatchEvent(new Event('change')); true")
        page.wait_for("window.held.length === 4")  # desk-a's series, breaches, intents, matrix
        page.eval("const b = document.getElementById('book'); b.value = 'desk-b';"
                  "b.dispatchEvent(new Event('change')); true")
        page.wait_for("document.getElementById('status').textContent.startsWith('desk-b:')")
        page.eval("window.release()")
        page.wait_for("window.inflight === 0 && window.held.length === 0")
        time.sleep(1.0)  # desk-a's draw, had it gone on, ends with its VaR and status
        page.wait_for("window.inflight === 0 && window.held.length === 0")
        shown = page.eval("[document.getElementById('book').value,"
                          " document.getElementById('status').textContent,"
                          " document.getElementById('book-title').textContent,"
                          " document.body.dataset.points]")
    assert shown[0] == "desk-b"
    assert shown[1].startswith("desk-b: ") and shown[2].startswith("desk-b "), shown


SCALED_LIMIT = """(() => {
    // desk-a's BTC delta limit as set 4 coin, halved in force while BTC is stressed
    const realFetch = window.fetch.bind(window);
    window.fetch = async (path, init) => {
        const res = await realFetch(path, init);
        if (!String(path).startsWith('/v1/overview')) return res;
        const ov = await res.json();
        for (const r of ov.rows) {
            r.limits = {...r.limits, max_abs_delta: 4};
            r.limits_in_force = {...r.limits, max_abs_delta: 2};
            r.regime = 'stressed';
        }
        return new Response(JSON.stringify(ov), {status: 200,
            headers: {'content-type': 'application/json'}});
    };
    return true; })()"""


def _desk_a_with(browser: Browser, url: str, script: str) -> Page:
    """The page on desk-a (1m buckets), signed in, with ``script`` run before the page's
    own (a fetch shim that holds, counts or rewrites answers)."""
    page = browser.open("about:blank")
    page.send("Page.addScriptToEvaluateOnNewDocument", {"source": script})
    page.goto(f"{url}/#book=desk-a&bucket=1m")
    assert sign_in(page, ALL_TOKEN) == "1"
    return page


def test_a_charts_limit_line_is_the_limit_in_force_in_the_regime(
    dsn: str, tokens_file: Path, browser: Browser, tmp_path: Path
) -> None:
    """A maximum scaled for the volatility regime (regime_scale): the engine breaches at
    the scaled limit, and the delta chart's dashed line stood at the limit as set, above
    the breaches it marked. It is drawn at the limit in force, and its note says so."""
    from tests.integration.history.conftest import store_trades

    store_trades(dsn, tmp_path, [("desk-a", "buy", 100.0)])
    with _serving(dsn, tokens_file) as url:
        page = _desk_a_with(browser, url, SCALED_LIMIT)
        panel = page.eval("(() => { const p = document.querySelector("
                          "'.panel[data-field=\"delta\"]');"
                          " return [p.dataset.limits, p.querySelector('.note').textContent]; })()")
    assert panel[0] == "2", panel  # ±2: two lines
    assert panel[1].startswith("dashed red: limit ±2.00 coin (±4.00 as set, scaled for the "
                               "stressed regime)"), panel


def test_a_bookmark_with_a_bucket_the_page_does_not_offer_keeps_the_default(
    dsn: str, tokens_file: Path, browser: Browser, tmp_path: Path
) -> None:
    """`#bucket=5m` emptied the bucket box: every series request was `bucket=` (a 422)
    and the page showed that error, no chart, until another bucket was picked."""
    from tests.integration.history.conftest import store_trades

    store_trades(dsn, tmp_path, [("desk-a", "buy", 100.0)])
    with _serving(dsn, tokens_file) as url:
        page = browser.open(f"{url}/#book=desk-a&bucket=5m")
        assert sign_in(page, ALL_TOKEN) == "1", page.eval(
            "document.getElementById('status').textContent")
        shown = page.eval("[document.getElementById('bucket').value,"
                          " document.getElementById('status').textContent]")
    assert shown[0] == "1m" and shown[1].startswith("desk-a: "), shown


SLOW_OVERVIEW = """(() => {
    // refresh ticks 100 times as often; each overview answer waits 3 s; counted at once
    const realInterval = window.setInterval.bind(window);
    window.setInterval = (f, ms) => realInterval(f, ms / 100);
    window.overviews = 0;
    window.mostOverviews = 0;
    const realFetch = window.fetch.bind(window);
    window.fetch = async (path, init) => {
        if (!String(path).startsWith('/v1/overview')) return realFetch(path, init);
        window.overviews += 1;
        window.mostOverviews = Math.max(window.mostOverviews, window.overviews);
        try {
            await new Promise((go) => setTimeout(go, 3000));
            return await realFetch(path, init);
        } finally { window.overviews -= 1; }
    };
    return true; })()"""


def test_a_refresh_does_not_pile_on_a_load_still_waiting(
    dsn: str, tokens_file: Path, browser: Browser, tmp_path: Path
) -> None:
    """Each refresh tick started a load whether the last had its answers or not: over a
    service slow to answer, a page sent ever more requests at once, adding to the load
    that made it slow. A tick while a load waits is skipped."""
    import time

    from tests.integration.history.conftest import store_trades

    store_trades(dsn, tmp_path, [("desk-a", "buy", 100.0)])
    with _serving(dsn, tokens_file) as url:
        page = _desk_a_with(browser, url, SLOW_OVERVIEW)
        time.sleep(4.0)  # ~25 ticks of 150 ms, the next loads' overviews waiting 3 s
        most = page.eval("window.mostOverviews")
        assert int(page.eval("document.body.dataset.refreshed")) >= 1
    assert most == 1, most


def test_a_book_with_more_intents_than_an_answer_holds_still_shows_its_latest(
    service_url: str, browser: Browser, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page asked for a book's whole breach and intent lists: past what an answer may
    hold (queries.MAX_ROWS, lowered here) that was a 400, and the book had no charts,
    matrix or cards at all, only the error. It asks for the latest (?last=N)."""
    import httpx

    from greekstream.api import queries

    auth = {"Authorization": f"Bearer {ALL_TOKEN}"}
    with httpx.Client(base_url=service_url, timeout=60, headers=auth) as client:
        books = client.get("/v1/books").json()
        intents = {b: client.get(f"/v1/books/{b}/hedge-intents").json() for b in books}
        book = max(intents, key=lambda b: len(intents[b]))
        others = [len(client.get(path).json()) for path in (
            f"/v1/books/{book}/timeseries?bucket=1d", f"/v1/books/{book}/breaches",
            "/v1/regimes")]
    cap = max(others)
    assert len(intents[book]) > cap, (book, len(intents[book]), others)
    monkeypatch.setattr(queries, "MAX_ROWS", cap)
    page = browser.open(f"{service_url}/#book={_fragment(book)}&bucket=1d")
    assert sign_in(page, ALL_TOKEN) == "1", page.eval(
        "document.getElementById('status').textContent")
    shown = page.eval("[document.getElementById('status').textContent,"
                      " [...document.getElementById('intents').tBodies[0].rows].length,"
                      " document.getElementById('intents').tBodies[0].rows[0].cells[0]"
                      ".textContent]")
    assert shown[0].startswith(f"{book}: ") and shown[1] == 15, shown
    assert shown[2] == intents[book][-1]["ts"][:19].replace("T", " "), shown  # the latest


def test_a_second_click_on_explain_while_one_runs_starts_no_second(
    dsn: str, tokens_file: Path, browser: Browser, tmp_path: Path
) -> None:
    """Each click on "Explain the last hour" sent its own request: a second click while
    the first replay ran was another replay of the window, or the token's 429 shown as
    "explain failed" over a waterfall still on its way. The button waits for the first."""
    from tests.integration.history.conftest import store_trades

    store_trades(dsn, tmp_path, [("desk-a", "buy", 100.0), ("desk-a", "sell", 101.0)])
    with _serving(dsn, tokens_file) as url:
        page = _desk_a_with(browser, url, """
            window.explains = 0;
            const realFetch = window.fetch.bind(window);
            window.fetch = async (path, init) => {
                if (!String(path).includes('/explain')) return realFetch(path, init);
                window.explains += 1;
                await new Promise((go) => setTimeout(go, 1000));
                return realFetch(path, init);
            };""")
        page.eval("const b = document.getElementById('explain-run'); b.click(); b.click(); true")
        page.wait_for("document.body.dataset.explain === 'desk-a'")
        shown = page.eval("[window.explains, document.getElementById('explain-note').textContent,"
                          " document.getElementById('explain-run').disabled]")
    assert shown[0] == 1 and shown[1].startswith("desk-a: P&L") and shown[2] is False, shown
