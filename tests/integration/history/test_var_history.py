"""The streamed `var` outputs stored in chDB (migration 0012) and served by the API like
risk_matrix: the latest (or as-of) event of a book, and its distribution as a PNG."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from tests.integration.history.browser import Browser
from tests.integration.history.conftest import DESK_A_TOKEN, _serving
from tests.integration.history.test_page import ARTIFACTS, chromium, sign_in
from tests.unit.scenarios.test_var import returns_csv
from tests.unit.scenarios.test_var_stream import hours_of_market

from greekstream.cli import main
from greekstream.core.engine import EngineConfig
from greekstream.core.events import VarEvent, encode
from greekstream.core.timeutil import format_ts
from greekstream.history import connect, write_replay
from greekstream.runtime.replay import replay
from greekstream.runtime.returns_file import parse_returns

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_var_is_stored_and_served(dsn: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    records = [(r, f"e.jsonl:{i + 1}") for i, r in enumerate(hours_of_market(3))]
    config = EngineConfig(returns=parse_returns(returns_csv(80)))
    outputs = replay(records, config=config).outputs
    var = [o for o in outputs if isinstance(o, VarEvent)]
    assert len({o.ts for o in var}) == 4
    counts = write_replay(dsn, records, outputs)
    assert counts["outputs"] == len(outputs)
    with connect(dsn) as history:
        assert history.rows("SELECT count() FROM var FINAL")[0][0] == len(var)
    # `var --from-history` replays the stored inputs: the same numbers as from the file
    returns_file = tmp_path / "r.csv"
    returns_file.write_text(returns_csv(80))
    events_file = tmp_path / "e.jsonl"
    events_file.write_bytes(b"\n".join(r for r, _ in records) + b"\n")
    answers = []
    for source in (["--from-history", dsn], [str(events_file)]):
        capsys.readouterr()
        assert main(["var", *source, "--returns", str(returns_file)]) == 0
        answers.append(orjson.loads(capsys.readouterr().out))
    assert answers[0] == answers[1] and len(answers[0]) == 3
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f'"{DESK_A_TOKEN}": ["desk-a"]\n')
    auth = {"Authorization": f"Bearer {DESK_A_TOKEN}"}
    mine = [o for o in var if o.book == "desk-a"]
    with _serving(dsn, tokens) as url, httpx.Client(base_url=url, timeout=60) as client:
        got = client.get("/v1/books/desk-a/var", headers=auth)
        assert got.status_code == 200, got.text
        assert got.json() == orjson.loads(encode(mine[-1]))
        at = format_ts(mine[1].ts + 1)
        assert client.get("/v1/books/desk-a/var", params={"at": at},
                          headers=auth).json()["ts"] == format_ts(mine[1].ts)
        png = client.get("/v1/books/desk-a/var", params={"format": "png"}, headers=auth)
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert client.get("/v1/books/desk-b/var", headers=auth).status_code == 403
        early = client.get("/v1/books/desk-a/var", params={"at": "2026-03-01T00:30:00Z"},
                           headers=auth)
        assert early.status_code == 404 and "RETURNS_FILE" in early.json()["detail"]
        # the page shows the latest VaR and its distribution (fetched with the token)
        with Browser(chromium(), tmp_path / "profile") as browser:
            page = browser.open(f"{url}/#book=desk-a&bucket=1m")
            assert sign_in(page, DESK_A_TOKEN) == "1", page.dom()[-2000:]
            assert page.wait_for("document.body.dataset.var") == "1"
            text = page.eval("document.getElementById('var').textContent")
            assert text.startswith("VaR ") and " USD, ES " in text and mine[-1].worst_date in text
            assert page.eval("document.getElementById('var-png').naturalWidth") > 500
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(ARTIFACTS / "history_page_var.png")
