"""The query service's edges: security headers on every response, no CDN docs, strict
parameter validation, RFC 6266 downloads, and book names that need percent-encoding."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import orjson
import pytest
from tests.integration.history.conftest import _serving, serving_app, store_trades

from greekstream.api.app import STATIC
from greekstream.settings import QuerySettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ALL = "z" * 32
DESK_A = "a" * 32  # sees desk-a only
AUTH = {"Authorization": f"Bearer {ALL}"}
ODD_BOOKS = ["fx/desk", 'quote"book', "crlf\r\nbook", "é/ü desk;x=1", "tex $\\nosuchcmd$"]


@pytest.fixture
def client(shared_service_url: str) -> Iterator[httpx.Client]:
    """A client of the module's one service: its tests only read the store."""
    with httpx.Client(base_url=shared_service_url, timeout=60) as c:
        yield c


def test_every_response_carries_the_security_headers(client: httpx.Client) -> None:
    responses = {
        "page": client.get("/"),
        "script": client.get("/static/app.js"),
        "style": client.get("/static/app.css"),
        "books": client.get("/v1/books", headers=AUTH),
        "csv": client.get("/v1/books/desk-a/breaches", headers=AUTH, params={"format": "csv"}),
        "unauthorized": client.get("/v1/books"),
        "not found": client.get("/nowhere"),
        "invalid": client.get("/v1/top", headers=AUTH, params={"at": "x", "limit": 0}),
        "health": client.get("/healthz"),
        "openapi": client.get("/openapi.json"),
    }
    for name, r in responses.items():
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp, name
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, name
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert r.headers.get("x-frame-options") == "DENY", name
        if name not in ("script", "style"):
            assert r.headers.get("cache-control") == "no-store", name
    assert responses["script"].status_code == 200
    assert "javascript" in responses["script"].headers["content-type"]
    assert responses["page"].status_code == 200
    # no /docs: FastAPI's would load an unpinned swagger-ui from a CDN
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 404 and "cdn" not in r.text.lower()
    assert client.get("/openapi.json").status_code == 200


    check_page_needs_no_unsafe_inline(client)


class _Audit(HTMLParser):
    """Everything in a page that a strict CSP (no 'unsafe-inline') would block."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k for k, _ in attrs}
        if tag == "style" or "style" in names or any(n.startswith("on") for n in names):
            self.inline.append(tag)
        if tag == "script":
            src = dict(attrs).get("src") or ""
            if not src.startswith("/static/"):
                self.inline.append("script without a served src")
            self.scripts.append(src)
        if tag == "link":
            href = dict(attrs).get("href") or ""
            assert href.startswith("/static/"), href


def check_page_needs_no_unsafe_inline(client: httpx.Client) -> None:
    audit = _Audit()
    audit.feed(client.get("/").text)
    assert audit.inline == [] and audit.scripts == ["/static/app.js"]
    for path in STATIC.iterdir():
        assert client.get(f"/static/{path.name}").status_code == 200, path.name
    script = (STATIC / "app.js").read_text()
    assert "innerHTML" not in script and "outerHTML" not in script
    assert "location.hash" in script and "token" not in script.split("function wanted")[1][:200]


def test_non_finite_unbounded_or_unstorable_parameters_are_refused(
    client: httpx.Client,
) -> None:
    for value in ("inf", "-inf", "nan", "1e400", "0", "-1", "31700000000"):
        r = client.get("/v1/books/desk-a/hedge-intents", headers=AUTH,
                       params={"within_s": value})
        assert r.status_code == 422, (value, r.status_code, r.text)
        assert "within_s" in r.text
    for limit in ("0", "1001", "1e3", "inf"):
        r = client.get("/v1/top", headers=AUTH, params={"at": "2026-03-02T01:00:00Z",
                                                         "limit": limit})
        assert r.status_code == 422, (limit, r.text)
    for at in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2300-01-01T00:00:00Z"):
        r = client.get("/v1/exposures", headers=AUTH, params={"at": at})
        assert r.status_code == 400, (at, r.text)
        assert "range" in r.json()["detail"]


def test_a_request_body_over_the_limit_is_refused_before_it_is_read(
    client: httpx.Client,
) -> None:
    """413 with the usual JSON detail, with or without a token (FastAPI reads a body whole
    before it checks the token), by its Content-Length or, streamed in chunks without
    one, once the bytes passed the limit; a body within it still reaches the route."""
    from greekstream.api.app import MAX_BODY_BYTES

    trade = WHAT_IF["trades"][0]
    big = orjson.dumps({"trades": [trade] * (MAX_BODY_BYTES // len(orjson.dumps(trade)) + 1)})
    assert len(big) > MAX_BODY_BYTES
    path = "/v1/books/desk-a/what-if"
    json_type = {"Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 1 << 16):
            yield big[start:start + (1 << 16)]

    for headers in (json_type, {**json_type, **AUTH}):
        for body in (big, chunks()):
            r = client.post(path, content=body, headers=headers)
            assert r.status_code == 413, (headers, r.status_code, r.text[:300])
            assert f"over {MAX_BODY_BYTES} bytes" in r.json()["detail"]
            assert r.headers["cache-control"] == "no-store"
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    within = client.post(path, content=orjson.dumps({"trades": []}), headers=json_type)
    assert within.status_code == 401  # read, then the token is asked for


def test_a_non_finite_number_in_a_body_is_a_422_naming_the_field(
    client: httpx.Client, caplog: pytest.LogCaptureFixture,
) -> None:
    """Python's json reads 1e400, NaN and ±Infinity in a body as floats; pydantic refuses
    them (finite_number) and FastAPI's own 422 handler, echoing them in `input`, could not
    write its answer: a 500 and a traceback. Now the 422 names the field, the value as a
    string, as for 0; and a token that may not see the book gets its 403 whatever the
    body holds (the body used to be validated first)."""
    path = "/v1/books/desk-a/what-if"
    json_type = {"Content-Type": "application/json", **AUTH}
    trade = b'{"instrument_id":"BTC-PERPETUAL","side":"buy","quantity":%s%s}'
    shown = {b"1e400": "Infinity", b"-1e400": "-Infinity", b"NaN": "NaN",
             b"Infinity": "Infinity", b"-Infinity": "-Infinity"}
    with caplog.at_level(logging.ERROR, logger="greekstream.serve"):
        for literal, text in shown.items():
            for field, body in (("quantity", trade % (literal, b"")),
                                ("price", trade % (b"1", b',"price":' + literal))):
                r = client.post(path, content=b'{"trades":[%s]}' % body, headers=json_type)
                assert r.status_code == 422, (literal, field, r.status_code, r.text)
                assert r.json() == {"error": "invalid_request", "detail": [{
                    "type": "finite_number", "loc": ["body", "trades", 0, field],
                    "msg": "Input should be a finite number", "input": text}]}
                assert r.headers["cache-control"] == "no-store"
        # another error echoing a whole trade that holds non-finite numbers
        r = client.post(path, headers=json_type,
                        content=b'{"trades":[{"side":"buy","quantity":NaN,"x":[-1e400]}]}')
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "trades", 0, "instrument_id"]
        assert r.json()["detail"][0]["input"] == {"side": "buy", "quantity": "NaN",
                                                  "x": ["-Infinity"]}
        zero = client.post(path, content=b'{"trades":[%s]}' % (trade % (b"0", b"")),
                           headers=json_type)
        assert zero.status_code == 422 and zero.json()["detail"][0]["input"] == 0
        desk_a = {"Content-Type": "application/json", "Authorization": f"Bearer {DESK_A}"}
        for body in (trade % (b"NaN", b""), trade % (b"0", b""),
                     b'{"instrument_id":"BTC-PERPETUAL","side":"short","quantity":1}'):
            r = client.post("/v1/books/desk-b/what-if", headers=desk_a,
                            content=b'{"trades":[%s]}' % body)
            assert r.status_code == 403, (body, r.status_code, r.text)
    assert "internal error" not in caplog.text


def test_a_range_with_more_rows_than_an_answer_may_hold_is_a_clear_400(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A series, breach, intent or regime list is built whole in the service before it is
    sent: past queries.MAX_ROWS rows (lowered here) the answer is a 400 saying how to
    narrow it, not a server that runs out of memory; at exactly the cap, every row."""
    from greekstream.api import queries

    routes = {"/v1/books/desk-a/timeseries": "buckets", "/v1/books/desk-a/breaches":
              "breaches", "/v1/books/treasury/hedge-intents": "hedge intents",
              "/v1/regimes": "regime changes"}
    sizes = {path: len(client.get(path, headers=AUTH).json()) for path in routes}
    assert min(sizes.values()) >= 1, sizes
    for path, what in routes.items():
        monkeypatch.setattr(queries, "MAX_ROWS", sizes[path])
        whole = client.get(path, headers=AUTH, params={"format": "csv"})
        assert whole.status_code == 200 and len(whole.text.splitlines()) == sizes[path] + 1
        monkeypatch.setattr(queries, "MAX_ROWS", sizes[path] - 1)
        r = client.get(path, headers=AUTH)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["detail"].startswith(f"more than {sizes[path] - 1} {what} in this "
                                             "range: narrow from/to"), r.text
    assert "coarser bucket" in client.get("/v1/books/desk-a/timeseries", headers=AUTH,
                                          params={"bucket": "1m"}).text


def test_the_last_n_breaches_or_intents_are_served_past_the_row_cap(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`?last=N`: the last N rows, oldest first, the tail of the whole list; a book with
    more rows than an answer may hold (a 400 asked whole) still has its latest (the page
    asks for them: it had no charts at all for such a book)."""
    from greekstream.api import queries

    books = client.get("/v1/books", headers=AUTH).json()
    for what in ("breaches", "hedge-intents"):  # of the book with the most
        lists = {f"/v1/books/{b}/{what}": client.get(f"/v1/books/{b}/{what}",
                                                     headers=AUTH).json() for b in books}
        path, whole = max(lists.items(), key=lambda kv: len(kv[1]))
        assert len(whole) >= 3, (path, len(whole))
        for n in (1, 2, len(whole), len(whole) + 5):
            r = client.get(path, headers=AUTH, params={"last": n})
            assert r.status_code == 200, r.text
            assert r.json() == whole[-n:], (path, n)
        csv = client.get(path, headers=AUTH, params={"last": 2, "format": "csv"})
        assert len(csv.text.splitlines()) == 3
        monkeypatch.setattr(queries, "MAX_ROWS", len(whole) - 1)
        r = client.get(path, headers=AUTH)
        assert r.status_code == 400 and "ask for the last N (last=N)" in r.text, r.text
        assert client.get(path, headers=AUTH, params={"last": 2}).json() == whole[-2:]
        monkeypatch.undo()
        for bad in ("0", "-1", "100001", "x"):
            r = client.get(path, headers=AUTH, params={"last": bad})
            assert r.status_code == 422 and r.json()["error"] == "invalid_request", r.text


def test_an_error_body_does_not_name_the_store(dsn: str, tokens_file: Path) -> None:
    """A query the store cannot answer is a 400 that says why, without the chDB directory
    or the server's host and database the message had for the CLI."""
    from greekstream.history import connect
    from greekstream.history.migrate import migrate

    with connect(dsn, create=True) as history:
        migrate(history)
        store = history.target
    with _serving(dsn, tokens_file) as url, httpx.Client(base_url=url, timeout=60) as client:
        for path, params in (("/v1/exposures", {"at": "2026-03-02T01:00:00Z"}),
                             ("/v1/top", {"at": "2026-03-02T01:00:00Z"})):
            r = client.get(path, headers=AUTH, params=params)
            assert r.status_code == 400, r.text
            assert r.json() == {"error": "bad_request",
                                "detail": "no input events stored in the history store"}
            assert store.location not in r.text and store.database not in r.text


@pytest.fixture
def odd_books_url(dsn: str, tokens_file: Path, tmp_path: Path) -> Iterator[str]:
    store_trades(dsn, tmp_path, [(book, "buy", 100.0) for book in ODD_BOOKS])
    with _serving(dsn, tokens_file) as url:
        yield url


def test_books_with_slashes_quotes_and_newlines_are_reachable_and_downloadable(
    odd_books_url: str,
) -> None:
    with httpx.Client(base_url=odd_books_url, timeout=60) as client:
        assert set(ODD_BOOKS) <= set(client.get("/v1/books", headers=AUTH).json())
        for book in ODD_BOOKS:
            path = f"/v1/books/{quote(book, safe='')}/timeseries"
            rows = client.get(path, headers=AUTH).json()
            assert rows and rows[-1]["positions"] == 1, book
            r = client.get(path, headers=AUTH, params={"format": "csv"})
            assert r.status_code == 200 and r.text.startswith("underlying,"), book
            disposition = r.headers["content-disposition"]
            assert "\r" not in disposition and "\n" not in disposition
            fallback = disposition.split('filename="')[1].split('"')[0]
            assert fallback.isascii() and '"' not in fallback and "/" not in fallback
            encoded = disposition.split("filename*=UTF-8''")[1]
            assert unquote(encoded) == f"{book}-timeseries-1m.csv"
        # a name matplotlib would read as mathtext is drawn as text (a 500 before)
        window = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T00:01:00Z"}
        png = client.get(f"/v1/books/{quote(ODD_BOOKS[-1], safe='')}/explain", headers=AUTH,
                         params={**window, "format": "png"})
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n", png.text
        refused = client.get(f"/v1/books/{quote('fx/desk', safe='')}/breaches",
                             headers={"Authorization": f"Bearer {'a' * 32}"})
        assert refused.status_code == 403


WHAT_IF = {"trades": [{"instrument_id": "BTC-PERPETUAL", "side": "sell", "quantity": 20000}]}


@pytest.mark.timeout(600)  # three replays of the sample day on 2 shared cores
def test_replays_run_off_the_request_path_per_token_limited_and_timed_out(
    shared_stored: str, tokens_file: Path
) -> None:
    """A replay holds no connection while the engine runs (in a worker process): other
    queries answer meanwhile; a token's second replay is 429; a slow one is 504."""
    settings = QuerySettings(connections=2, replay_workers=1, replay_per_token=1)
    with serving_app(shared_stored, tokens_file, settings) as (url, app), \
            httpx.Client(base_url=url, timeout=120) as client:
        replays = app.state.service.replays
        at = {"at": "2026-03-02T01:00:00Z", "mode": "replay"}
        first: dict[str, httpx.Response] = {}
        thread = threading.Thread(target=lambda: first.update(
            r=client.get("/v1/exposures", headers=AUTH, params=at)))
        thread.start()
        deadline = time.monotonic() + 60
        while not replays.running(_name(ALL)):
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.01)
        books = client.get("/v1/books", headers=AUTH)
        again = client.get("/v1/exposures", headers=AUTH, params=at)
        preview = client.post("/v1/books/desk-a/what-if", headers=AUTH, json=WHAT_IF)
        other = client.get("/v1/books", headers={"Authorization": f"Bearer {'a' * 32}"})
        still_running = replays.running(_name(ALL))
        thread.join(400)
        assert still_running == 1, "the first replay ended too soon to check anything"
        assert books.status_code == 200 and other.status_code == 200  # not queued behind it
        assert again.status_code == 429 and "Retry-After" in again.headers
        assert preview.status_code == 429, preview.text  # what-if replays too: same slots
        assert first["r"].status_code == 200, first["r"].text
        rows = first["r"].json()
        assert rows and {r["as_of"] for r in rows} == {at["at"]}
        replays.timeout_s = 0.001
        slow = client.get("/v1/exposures", headers=AUTH, params=at)
        assert slow.status_code == 504 and "longer than" in slow.json()["detail"]
        deadline = time.monotonic() + 300  # the abandoned replay keeps its slot until done
        while replays.running(_name(ALL)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        slow_preview = client.post("/v1/books/desk-a/what-if", headers=AUTH, json=WHAT_IF)
        assert slow_preview.status_code == 504, slow_preview.text


def _name(token: str) -> str:
    from greekstream.api.tokens import fingerprint

    return fingerprint(token)


@pytest.mark.timeout(600)
def test_a_preview_of_the_same_history_restores_the_state_the_last_one_built(
    shared_stored: str, tokens_file: Path
) -> None:
    """The first what-if replays the book's stored records; the next ones over the same
    records restore the state it built (a snapshot; restore = straight run) instead of
    replaying the day again, with the same answer. A record stored since is another key."""
    from greekstream.api.app import StateCache
    from greekstream.history import connect
    from greekstream.history.replay_io import iter_raw

    with serving_app(shared_stored, tokens_file) as (url, app), \
            httpx.Client(base_url=url, timeout=300) as client:
        states = app.state.service.states
        path = "/v1/books/desk-a/what-if"
        first = client.post(path, json=WHAT_IF, headers=AUTH)
        assert first.status_code == 200, first.text
        assert states.hits == 0 and len(states._states) == 1
        again = client.post(path, json=WHAT_IF, headers=AUTH)
        assert again.status_code == 200 and states.hits == 1
        assert again.json() == first.json()
        other = {"trades": [{**WHAT_IF["trades"][0], "side": "buy"}]}
        bought = client.post(path, json=other, headers=AUTH)
        assert bought.status_code == 200 and states.hits == 2
        delta = [u["change"]["delta"] for u in bought.json()["underlyings"]
                 if u["underlying"] == "BTC"]
        assert delta and delta[0] > 0  # the trade given, on the state restored
    with connect(shared_stored) as history:
        records = list(iter_raw(history, "desk-a"))
    one_more = (b'{"type":"tick","event_id":"later","ts":"2026-03-02T03:00:00Z"}', "inputs:0")
    assert StateCache.key("desk-a", records) != StateCache.key("desk-a", [*records, one_more])
    assert StateCache.key("desk-a", records) != StateCache.key("desk-b", records)


def test_two_authorization_headers_are_a_400_whichever_comes_first(
    client: httpx.Client,
) -> None:
    """Two Authorization headers: the first was taken, so a request carrying a token of
    every book and one of desk-a read as whichever a proxy put first. Neither is taken."""
    desk_a = f"Bearer {'a' * 32}"
    for pair in ((AUTH["Authorization"], desk_a), (desk_a, AUTH["Authorization"])):
        headers = httpx.Headers([("Authorization", pair[0]), ("Authorization", pair[1])])
        r = client.get("/v1/books", headers=headers)
        assert r.status_code == 400 and "more than one Authorization" in r.text, r.text
    assert client.get("/v1/books", headers=AUTH).status_code == 200
