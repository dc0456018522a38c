"""The dashboard over the demo's store (`greekstream demo` on the small sample day), in
headless Chromium: every panel has data, and the things a risk manager relies on hold —
units in the headers, open breaches first, limit lines and breach markers on the charts,
a spike clipped and marked instead of flattening its chart, hover values, rounded ticks,
h:mm:ss durations, no e-notation, and the page refreshing itself.

The same code path (scripts/dashboard_png.py, `make dashboard-png`) draws
docs/img/dashboard.png for the README.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tests.integration.history.browser import Browser, Windows
from tests.integration.history.conftest import _serving
from tests.integration.history.test_page import ARTIFACTS, chromium, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

TOKEN = "d" * 32


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("dash")
    for cmd in (["sample", "--out", str(folder / "events.jsonl"), "--quiet"],
                ["demo", "--events", str(folder / "events.jsonl"), "--out", str(folder / "out")]):
        done = subprocess.run([sys.executable, "-m", "greekstream.cli", *cmd],
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    assert "greekstream serve --dsn chdb://" in done.stdout  # the demo's next step
    return f"chdb://{folder / 'out' / 'chdb'}"


@pytest.fixture(scope="module")
def url(demo_store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One service over the demo's store for the module's tests: they only read it (the
    page's own fetches; a test's stubbed failures are in its page, not the service)."""
    tokens = tmp_path_factory.mktemp("tokens") / "tokens.yaml"
    tokens.write_text(f'"{TOKEN}": "*"\n')
    with _serving(demo_store, tokens) as base:
        yield base


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Windows]:
    """Chromium per window size, shared by the module's tests (a tab per test)."""
    shared = Windows(chromium(), tmp_path_factory.mktemp("chromium"))
    yield shared
    shared.close()


def _state(page, expr: str):  # type: ignore[no-untyped-def]
    return orjson.loads(page.eval(f"JSON.stringify({expr})"))


def test_every_panel_of_the_dashboard_has_data(url: str, windows: Windows) -> None:
    with windows.window((1700, 2300)) as browser:
        page = browser.open(f"{url}/#book=desk-b&bucket=1m")
        assert sign_in(page, TOKEN) == "1", page.dom()[-3000:]
        counts = _state(page, """{
            overview: [...document.querySelectorAll('#overview tbody tr')].map(
                (tr) => [tr.className, tr.cells[0].textContent, tr.cells[11].textContent,
                         tr.cells[7].textContent]),
            headers: [...document.querySelectorAll('#overview th')].map((th) => th.textContent),
            open: +document.getElementById('open-breaches').dataset.rows,
            openFor: [...document.querySelectorAll('#open-breaches tbody tr')].map(
                (tr) => tr.cells[3]?.textContent),
            top: +document.getElementById('top').dataset.rows,
            cells: +document.getElementById('matrix').dataset.cells,
            panels: [...document.querySelectorAll('.panel')].map((p) => ({
                field: p.dataset.field, points: +p.dataset.points, limits: +p.dataset.limits,
                marks: +p.dataset.marks, clipped: +p.dataset.clipped,
                canvas: p.querySelectorAll('canvas').length})),
            ticks: [...document.querySelectorAll('.u-axis')].length,
        }""")
        # overview: a row per (book, underlying), units in the headers, open breaches first
        rows = counts["overview"]
        assert len(rows) >= 10
        assert {"delta (coin)", "delta (USD)", "gamma (coin per USD)", "vega (USD per vol pt)",
                "theta (USD per day)", "P&L (USD)", "worst loss (USD)"} <= set(counts["headers"])
        breached = [r[0] == "breached" for r in rows]
        assert any(breached) and breached == sorted(breached, reverse=True)
        assert counts["open"] > 0 and counts["top"] > 0
        # limit use covers every limit: the treasury's health-factor breach read "3%" (its
        # delta's use) beside the breach; it now reads the floor's use, over 100%
        (hf_use,) = [r[3] for r in rows if "health_factor" in r[2]]
        assert hf_use.endswith("%") and int(hf_use[:-1]) >= 100, rows
        assert all(re.fullmatch(r"\d+:\d\d:\d\d", t) for t in counts["openFor"])
        # the time series: every panel plotted, with limit lines and breach markers
        panels = counts["panels"]
        assert len(panels) == 5 and all(p["points"] > 0 and p["canvas"] for p in panels)
        assert any(p["limits"] for p in panels) and any(p["marks"] for p in panels)
        assert counts["ticks"] >= 10
        assert counts["cells"] >= 45  # the latest risk matrix, a value in every cell
        # hover: the legend shows the value under the cursor
        hovered = page.eval("""(() => {
            const over = document.querySelector('.panel .u-over');
            const r = over.getBoundingClientRect();
            over.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width * 0.6,
                clientY: r.top + r.height / 2, bubbles: true}));
            return [...document.querySelector('.panel').querySelectorAll('.u-value')]
                .map((v) => v.textContent).join('|');
        })()""")
        assert re.search(r"2026-03-02 \d\d:\d\d:\d\d\|-?[\d,]+(\.\d+)?", hovered), hovered
        # no e-notation anywhere in the page's text
        text = page.eval("document.body.innerText")
        e_notation = re.search(r".{0,40}\d\.?\d*e[+-]\d.{0,20}", text)
        assert e_notation is None, e_notation
        # the day's volatility regime changes, and the P&L explain waterfall on request
        assert _state(page, "+document.getElementById('regimes').dataset.rows") >= 3
        regimes = page.eval("document.getElementById('regimes').tBodies[0].innerText")
        assert re.search(r"2026-03-02 \d\d:\d\d:\d\d\s+BTC\s+\S+ → (calm|normal|stressed)",
                         regimes), regimes
        book = page.eval("document.getElementById('book').value")
        page.eval("document.getElementById('explain-run').click(); true")
        page.wait_for(f"document.body.dataset.explain === {orjson.dumps(book).decode()}",
                      timeout=300)
        assert _state(page, "document.getElementById('explain-png').naturalWidth") > 400
        assert "explained by Greeks" in page.eval(
            "document.getElementById('explain-note').textContent")
        # hedge intents of a book that has them, and the page refreshes itself
        page.eval("document.getElementById('book').value = 'treasury';"
                  "document.getElementById('book').dispatchEvent(new Event('change')); true")
        page.wait_for("+document.getElementById('intents').dataset.rows > 0 && "
                      "document.getElementById('status').textContent.startsWith('treasury')")
        if book != "treasury":  # another book's waterfall is not left on the page
            assert _state(page, "document.getElementById('explain-plot').children.length") == 0
        before = int(page.eval("document.body.dataset.refreshed"))
        page.wait_for(f"+document.body.dataset.refreshed > {before}", timeout=60)
        assert page.console() == [] or all(
            "Content Security Policy" not in str(c) for c in page.console())
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(ARTIFACTS / "dashboard.png")


@pytest.mark.parametrize("width", [1700, 1280, 1024])
def test_every_column_of_every_card_shows_without_scrolling_sideways(
        url: str, windows: Windows, width: int) -> None:
    """At the screenshot's 1700 px, at a 1280 px laptop and in a 1024 px window, no card's
    table overflows its card (the hedge intents' "delta before → after" and "followed"
    columns were behind a scroll bar, squeezed beside the risk matrix; at 1024 px the
    overview's liquidation and open-breaches columns were), and the page itself does not
    scroll."""
    with windows.window((width, 2300)) as browser:
        page = browser.open(f"{url}/#book=treasury&bucket=1m")  # a book with hedge intents
        assert sign_in(page, TOKEN) == "1", page.dom()[-3000:]
        page.wait_for("+document.getElementById('intents').dataset.rows > 0")
        layout = _state(page, """{
            page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
            cards: [...document.querySelectorAll('.card')].map((c) => ({
                card: c.id || c.querySelector('h2').textContent,
                scroll: c.scrollWidth, client: c.clientWidth})),
            headers: (() => {
                const card = document.getElementById('intents-card');
                const box = card.getBoundingClientRect();
                const left = box.left + card.clientLeft, right = left + card.clientWidth;
                return [...document.querySelectorAll('#intents thead th')].map((th) => {
                    const r = th.getBoundingClientRect();
                    return {header: th.textContent, left: r.left - left, right: right - r.right,
                            width: r.width};
                });
            })(),
        }""")
    overflowing = [c for c in layout["cards"] if c["scroll"] > c["client"] + 1]
    assert overflowing == [], f"at {width} px these cards scroll sideways: {overflowing}"
    assert layout["page"][0] <= layout["page"][1] + 1, layout["page"]
    headers = layout["headers"]
    assert [h["header"] for h in headers] == [
        "time (UTC)", "underlying", "instrument", "side", "quantity (contracts)",
        "delta before → after (coin)", "followed"]
    hidden = [h for h in headers if h["left"] < -1 or h["right"] < -1 or h["width"] < 20]
    assert hidden == [], f"at {width} px these hedge-intent headers are cut off: {hidden}"


def test_a_spike_is_clipped_and_marked_not_flattening_the_chart(
        tmp_path: Path, windows: Windows, demo_store: str) -> None:
    """One 5-second spike in delta_usd: the axis spans the 1st..99th percentile, the spike
    is drawn at the edge and counted."""
    from greekstream.history import write_replay
    from greekstream.runtime.replay import read_records, replay

    def rec(type_: str, eid: str, second: int, **fields: object) -> bytes:
        return orjson.dumps({"type": type_, "event_id": eid,
                             "ts": f"2026-03-02T{second // 3600:02d}:{second // 60 % 60:02d}:"
                                   f"{second % 60:02d}Z", **fields})

    lines = [rec("instrument", "i", 0, instrument_id="BTC-PERPETUAL", kind="perpetual",
                 underlying="BTC", settlement="linear", contract_size=1),
             rec("trade", "t", 1, book="desk", instrument_id="BTC-PERPETUAL", side="buy",
                 quantity=10, price=60000.0)]
    for i in range(200):
        price = 6_000_000.0 if i == 100 else 60000.0 + 10 * (i % 7)
        lines.append(rec("index", f"x{i}", 60 * (i + 1), underlying="BTC", price=price))
    events = tmp_path / "spike.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    # a database of its own in the demo's chDB directory: chDB runs one engine (one
    # directory) per process, and the module's service holds the demo's store open
    dsn = f"{demo_store}?database=spike"
    write_replay(dsn, read_records(events), replay(read_records(events)).outputs)
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f'"{TOKEN}": "*"\n')
    with _serving(dsn, tokens) as url, windows.window() as browser:
        page = browser.open(f"{url}/#book=desk")
        assert sign_in(page, TOKEN) == "1"
        usd = _state(page, "(() => { const p = document.querySelector("
                           "'.panel[data-field=delta_usd]'); return {clipped: +p.dataset.clipped,"
                           " note: p.querySelector('.note').textContent}; })()")
        assert usd["clipped"] == 1 and "beyond the 1st–99th percentile" in usd["note"]


def _signed_in(url: str, browser: Browser, fragment: str):  # type: ignore[no-untyped-def]
    page = browser.open(f"{url}/#{fragment}")
    assert sign_in(page, TOKEN) == "1", page.dom()[-3000:]
    return page


def test_chart_axes_say_the_day_and_round_ticks_alike(url: str, windows: Windows) -> None:
    """The time axis said only hh:mm, so "00:00" stood at both ends of a day's chart and
    1-day buckets were labelled in hours; the y axis mixed "5,000" with "15k" and would
    have shown a 12,500 tick as "13k". Now the first tick, and each that starts another
    day, carries its date (mm-dd); and every tick of an axis has one format, exact."""
    with windows.window((1440, 900)) as browser:
        page = _signed_in(url, browser, "book=desk-b&bucket=1m")
        axes = _state(page, "[...document.querySelectorAll('.panel')].map((p) => "
                            "[p.dataset.field, p.dataset.xticks, p.dataset.yticks])")
        assert len(axes) == 5
        for field, xticks, yticks in axes:
            first, *rest = xticks.split("|")
            assert re.fullmatch(r"\d\d:\d\d\n03-02", first), (field, xticks)
            assert all(re.fullmatch(r"\d\d:\d\d(\n\d\d-\d\d)?", t) for t in rest), xticks
            labels = [t for t in yticks.split("|") if t != "0"]
            assert len({t[-1].isalpha() for t in labels}) == 1, (field, yticks)  # k/M or not
        units = page.eval("""import('/static/app.js').then((m) => [
            m.tickTexts([0, 2500, 5000, 7500, 10000, 12500]),
            m.tickTexts([-0.003, -0.0015, 0, 0.0015, 0.003]),
            m.tickTexts([-2.5e6, -1.25e6, 0]),
            m.tickTexts([0, 250, 500, 750, 1000]),
            m.timeTexts(['2026-03-01T18:00:00Z', '2026-03-02T00:00:00Z', '2026-03-02T06:00:00Z']
                .map((t) => Date.parse(t) / 1000), 21600),
            m.timeTexts(['2025-12-30', '2025-12-31', '2026-01-01']
                .map((t) => Date.parse(t) / 1000), 86400)])""")
        assert units == [["0", "2.5k", "5.0k", "7.5k", "10.0k", "12.5k"],
                         ["-0.0030", "-0.0015", "0", "0.0015", "0.0030"],
                         ["-2.50M", "-1.25M", "0"],
                         ["0", "250", "500", "750", "1,000"],
                         ["18:00\n03-01", "00:00\n03-02", "06:00"],
                         ["12-30\n2025", "12-31", "01-01\n2026"]]


def test_breach_values_carry_their_unit_and_differ_from_their_limit(
        url: str, windows: Windows) -> None:
    """Open breaches and the breach history showed value and limit without a unit (357
    what? -7,739 what?), and a health factor of 1.2483 breaching 1.25 read "1.25 / 1.25".
    The metric now names the unit of both (delta (coin), health_factor (ratio), ...) and
    the two numbers get the decimals it takes to tell them apart."""
    with windows.window((1440, 900)) as browser:
        page = _signed_in(url, browser, "book=treasury&bucket=1m")
        rows = _state(page, """[
            ...[...document.querySelectorAll('#open-breaches tbody tr')].map((tr) => [2, 4, 5]
                .map((i) => tr.cells[i].textContent)),
            ...[...document.querySelectorAll('#breaches tbody tr')].map((tr) => [4, 5, 6]
                .map((i) => tr.cells[i].textContent))]""")
        assert len(rows) >= 4 and any(r[0].startswith("health_factor") for r in rows), rows
        units = {"delta": "coin", "gamma": "coin per USD", "vega": "USD per vol pt",
                 "theta": "USD per day", "health_factor": "ratio"}
        for metric, value, limit in rows:
            name = metric.split(" ")[0]
            assert metric == f"{name} ({units[name]})", rows
            assert value != limit, rows
        numbers = page.eval("""import('/static/app.js').then((m) => [
            m.breachNumbers('health_factor', 1.2483, 1.25),
            m.breachNumbers('delta', 357.41, 300), m.breachNumbers('gamma', 0.0025, 0.0025),
            m.breachNumbers('liq_distance', 0.0812, 0.1), m.metricLabel('oracle')])""")
        assert numbers == [["1.248", "1.250"], ["357", "300"], ["0.00250", "0.00250"],
                           ["8.1%", "10.0%"], "oracle"]


def test_an_equity_basis_hedge_intent_says_its_delta_includes_collateral(
        url: str, windows: Windows) -> None:
    """treasury hedges its delta with collateral (hedge_basis equity): its intents read
    10,036 -> 11,000 coin beside an overview delta of -714, with nothing saying which delta
    (the API did not return the basis). Each row of an equity-basis intent says so."""
    with windows.window((1440, 900)) as browser:
        page = _signed_in(url, browser, "book=treasury&bucket=1m")
        page.wait_for("+document.getElementById('intents').dataset.rows > 0")
        cells = _state(page, """[...document.querySelectorAll('#intents tbody tr')]
            .map((tr) => tr.cells[5].textContent)""")
        intents = page.eval(f"""fetch('/v1/books/treasury/hedge-intents', {{headers:
            {{Authorization: 'Bearer {TOKEN}'}}}}).then((r) => r.json())""")
    assert {i["basis"] for i in intents} == {"equity"}, intents
    assert cells and all(c.endswith(" (with collateral)") and " → " in c for c in cells), cells


def test_the_cards_below_the_charts_name_their_book(url: str, windows: Windows) -> None:
    """The risk matrix, hedge intents, VaR, P&L explain and breach history are one book's,
    but their titles did not say whose: scrolled past the charts, a risk manager read
    "Hedge intents" or "Breach history of the book" and had to scroll back up to the
    Book selector. Each title names the book, and follows a change of book."""
    titles = ("[...document.querySelectorAll('#matrix-card h2, #intents-card h2, #var-card h2,"
              " #explain-card h2, #breaches')].map((n) => (n.closest('.card') ?? n)"
              ".querySelector('h2').textContent)")
    with windows.window((1440, 900)) as browser:
        page = _signed_in(url, browser, "book=desk-b&bucket=1m")
        shown = _state(page, titles)
        assert len(shown) == 5 and all(" of desk-b" in t for t in shown), shown
        page.eval("document.getElementById('book').value = 'treasury';"
                  "document.getElementById('book').dispatchEvent(new Event('change')); true")
        page.wait_for("document.getElementById('status').textContent.startsWith('treasury')")
        shown = _state(page, titles)
        assert all(" of treasury" in t and "desk-b" not in t for t in shown), shown


def test_every_time_on_the_page_says_utc(url: str, windows: Windows) -> None:
    """The risk matrices' "as of 2026-03-02 23:59:00", the hedge intents' time and the
    breach history's opened/cleared columns gave no time zone (the overview and the
    regimes say UTC); a desk outside London read them as local time. Each says UTC."""
    with windows.window((1440, 900)) as browser:
        page = _signed_in(url, browser, "book=treasury&bucket=1m")
        shown = _state(page, """{
            matrices: [...document.querySelectorAll('#matrix h3')].map((h) => h.textContent),
            headers: [...document.querySelectorAll('th')].map((th) => th.textContent)
                .filter((t) => /^(time|opened|cleared)/.test(t))}""")
        assert shown["matrices"] and all(
            re.search(r"as of 2026-03-02 \d\d:\d\d:\d\d UTC$", h) for h in shown["matrices"]), shown
        assert len(shown["headers"]) == 4 and all(
            h.endswith("(UTC)") for h in shown["headers"]), shown


# window.fetch for /var answered as window.varAnswers says ({json, png}: [status, body]),
# everything else by the service; then the book redrawn as a change of bucket does
STUB_VAR = """(() => {
    window.realFetch ??= window.fetch;
    window.fetch = (path, init) => {
        const kind = String(path).includes('format=png') ? 'png' : 'json';
        const answer = String(path).includes('/var') && window.varAnswers?.[kind];
        return answer ? Promise.resolve(new Response(JSON.stringify(answer[1]), {
            status: answer[0], headers: {'content-type': 'application/json'}}))
            : window.realFetch(path, init);
    };
    return true; })()"""
REDRAW = ("document.getElementById('status').textContent = '';"
          "document.getElementById('bucket').dispatchEvent(new Event('change')); true")


def test_the_var_card_tells_none_stored_from_a_failure(url: str, windows: Windows) -> None:
    """The VaR card said "no VaR stored for this book (the processor emits it with a
    returns file)" for any failure (a 503 or 500 too), gave a newcomer nothing to do, and
    showed as_of raw (2026-03-02T01:00:00Z). The demo's store now holds each book's VaR
    (`make demo` replays its day with the returns it builds), and the card shows it; none
    stored says how to store one; another failure says what failed; as_of is UTC."""
    card = "[document.getElementById('var').className, document.getElementById('var').textContent]"
    with windows.window((1440, 900)) as browser:
        page = _signed_in(url, browser, "book=desk-b&bucket=1m")
        page.wait_for("document.getElementById('var').textContent.startsWith('VaR ')")
        cls, text = _state(page, card)  # the demo's own VaR of desk-b, from its store
        assert cls == "" and re.fullmatch(
            r"VaR [\d,]+ USD, ES [\d,]+ USD at 99% over 250 days \(worst \d{4}-\d\d-\d\d: "
            r"-?[\d,]+ USD\), as of 2026-03-0[23] \d\d:\d\d:\d\d UTC", text), text
        page.wait_for("document.getElementById('var-plot').querySelector('img') !== null")
        page.eval(STUB_VAR)
        page.eval("window.varAnswers = {json: [404, {detail: 'no var stored for desk-b'}]}; true")
        page.eval(REDRAW)
        page.wait_for("document.getElementById('status').textContent.startsWith('desk-b:')")
        cls, text = _state(page, card)  # none stored: how to store one
        assert cls == "muted" and text.startswith("no VaR stored for desk-b: ") and \
            "GREEKSTREAM_ENGINE__RETURNS_FILE" in text and "--returns" in text, text
        page.eval("window.varAnswers = {json: [503, {detail: 'the history store is busy'}]}; true")
        page.eval(REDRAW)
        page.wait_for("document.getElementById('status').textContent.startsWith('desk-b:')")
        assert _state(page, card) == [
            "error", "VaR could not be loaded: HTTP 503: the history store is busy"]
        stored = {"var": 2519072.6, "es": 2930017.4, "confidence": 0.99, "scenarios": 250,
                  "worst_date": "2025-10-28", "worst_pnl": -3433744.8,
                  "as_of": "2026-03-02T01:00:00Z"}
        page.eval(f"window.varAnswers = {{json: [200, {orjson.dumps(stored).decode()}],"
                  " png: [500, {detail: 'drawing failed'}]}; true")
        page.eval(REDRAW)
        page.wait_for("document.getElementById('status').textContent.startsWith('desk-b:')")
        cls, text = _state(page, card)
        assert cls == "" and text == (
            "VaR 2,519,073 USD, ES 2,930,017 USD at 99% over 250 days (worst 2025-10-28: "
            "-3,433,745 USD), as of 2026-03-02 01:00:00 UTC"), text
        assert page.eval("document.getElementById('var-plot').textContent") == \
            "the distribution could not be drawn: HTTP 500: drawing failed"


def test_a_service_that_does_not_answer_is_said_in_words_and_tried_again(
        url: str, windows: Windows) -> None:
    """When the service did not answer, the status read "error: Failed to fetch"; if that
    was the first load (serve restarting as the page opened) the page never tried again;
    and after a failed redraw the next good status stayed red. Now it says the service did
    not answer and that the page tries again, it does, and the red goes with the error."""
    status = "[document.getElementById('status').className, " \
             "document.getElementById('status').textContent]"
    with windows.window((1440, 900)) as browser:
        page = browser.open("about:blank")
        page.send("Page.addScriptToEvaluateOnNewDocument", {"source": """
            window.failFetch = 1;  // the next this many fetches find no service
            const realFetch = window.fetch.bind(window);
            window.fetch = (...a) => (window.failFetch-- > 0
                ? Promise.reject(new TypeError('Failed to fetch')) : realFetch(...a));"""})
        page.goto(f"{url}/#book=desk-b&bucket=1m")
        assert sign_in(page, TOKEN) == "error"
        assert _state(page, status) == [
            "error", "error: the greekstream service did not answer (it may be restarting, or "
                     "the network is down) (the page tries again every 15 s)"]
        page.wait_for("document.body.dataset.ready === '1'", timeout=40)  # tried again
        cls, text = _state(page, status)
        assert cls == "" and text.startswith("desk-b: "), text
        page.eval("window.failFetch = 1;" + REDRAW)
        page.wait_for("document.getElementById('status').className === 'error'")
        page.eval(REDRAW)
        page.wait_for("document.getElementById('status').textContent.startsWith('desk-b:')")
        assert _state(page, status)[0] == ""


def test_a_book_that_never_breached_says_so(url: str, windows: Windows) -> None:
    """desk-a never breaches on the demo's day: its breach history was headers over
    nothing, which reads like a table that failed to load. It says none is stored."""
    with windows.window((1440, 900)) as browser:
        page = _signed_in(url, browser, "book=desk-a&bucket=1m")
        assert page.eval("document.body.dataset.breaches") == "0"
        rows = _state(page, "[...document.getElementById('breaches').tBodies[0].rows]"
                            ".map((tr) => tr.textContent)")
        assert rows == ["no breach of desk-a's limits stored"]


def test_a_charts_note_gives_its_limit_and_its_legend_no_empty_entries(
        url: str, windows: Windows) -> None:
    """A chart's note said "dashed red: limit" without the limit (treasury's ETH delta
    limit is 25,000 coin, far from its -714), and every legend carried an "ETH clipped:"
    entry with a toggle even when no point was clipped. The note gives the limit with its
    unit; a clipped entry shows only when some point is clipped."""
    with windows.window((1440, 900)) as browser:
        page = _signed_in(url, browser, "book=desk-b&bucket=1m")
        panels = _state(page, """[...document.querySelectorAll('.panel')].map((p) => ({
            field: p.dataset.field, limits: +p.dataset.limits, clipped: +p.dataset.clipped,
            note: p.querySelector('.note').textContent,
            legend: [...p.querySelectorAll('.u-legend .u-series')]
                .filter((r) => r.offsetParent !== null).map((r) => r.textContent)}))""")
    units = {"delta": "coin", "gamma": "coin per USD", "vega": "USD per vol point",
             "theta": "USD per day"}
    limited = [p for p in panels if p["limits"]]
    assert limited, panels
    for p in limited:
        sign = "" if p["field"] == "theta" else "±"
        assert re.match(rf"dashed red: limit {sign}-?[\d,.]+ {units[p['field']]}( ·|$)",
                        p["note"]), p
    for p in panels:
        shown = [e for e in p["legend"] if "clipped" in e]
        assert bool(shown) == bool(p["clipped"]), p
