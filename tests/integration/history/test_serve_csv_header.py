"""Every list the query service answers as CSV has its header, however few rows: an empty
answer (a day without breaches, a book before its first trade) was an empty body, which a
script reading the export (pandas, a spreadsheet import) refused as no columns at all.
The header is the columns of the same list's JSON rows, in order (one source for both)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.integration.history.conftest import serving_app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ALL = "z" * 32  # sees every book
NOBODY = "n" * 32  # sees a book with no records: its as-of lists are empty
LATER = "2026-03-02T01:30:00Z"
OPEN = "2026-03-02T00:00:00Z"  # the sample's first instant: no option quoted yet
BEFORE = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T01:00:00Z"}  # nothing stored

# (path, parameters of a full answer, the token and parameters of an empty one; None: the
# sample has no empty answer of it, the header of the full one is compared alone)
Empty = tuple[str, dict[str, Any]] | None
LISTS: list[tuple[str, dict[str, Any], Empty]] = [
    ("/v1/books/desk-a/timeseries", {}, (ALL, BEFORE)),
    ("/v1/books/desk-a/breaches", {}, (ALL, BEFORE)),
    ("/v1/books/desk-a/hedge-intents", {}, (ALL, BEFORE)),
    ("/v1/regimes", {}, (ALL, BEFORE)),
    ("/v1/exposures", {"at": LATER}, (NOBODY, {"at": LATER})),
    ("/v1/exposures", {"at": LATER, "mode": "replay"},
     (NOBODY, {"at": LATER, "mode": "replay"})),
    ("/v1/top", {"at": LATER}, (NOBODY, {"at": LATER})),
    ("/v1/top", {"at": LATER, "by": "vega"}, (NOBODY, {"at": LATER, "by": "vega"})),
    ("/v1/books/desk-a/vega-by-expiry", {"at": LATER}, (ALL, {"at": OPEN})),
    ("/v1/books/desk-a/pnl", {"at": LATER}, None),
]


@pytest.fixture(scope="module")
def client(shared_stored: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[httpx.Client]:
    tokens = tmp_path_factory.mktemp("tokens") / "tokens.yaml"
    tokens.write_text(f'"{ALL}": "*"\n"{NOBODY}": ["nobody"]\n', encoding="utf-8")
    with serving_app(shared_stored, tokens) as (url, _app), \
            httpx.Client(base_url=url, timeout=120) as c:
        yield c


def _get(client: httpx.Client, path: str, params: dict[str, Any],
         token: str = ALL) -> httpx.Response:
    response = client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, (path, params, response.text)
    return response


@pytest.mark.parametrize(("path", "full", "empty"), LISTS,
                         ids=[f"{p}{'?' + str(f.get('mode') or f.get('by') or '')}"
                              for p, f, _ in LISTS])
def test_an_empty_csv_has_the_header_of_the_json_rows(
    client: httpx.Client, path: str, full: dict[str, Any], empty: Empty
) -> None:
    rows = _get(client, path, full).json()
    assert rows, f"{path}: the sample gives no rows to compare with"
    keys = list(rows[0])
    assert all(list(r) == keys for r in rows)
    table = list(csv.reader(io.StringIO(_get(client, path, {**full, "format": "csv"}).text)))
    assert table[0] == keys and len(table) == len(rows) + 1
    if empty is not None:
        token, params = empty
        assert _get(client, path, params, token).json() == []
        text = _get(client, path, {**params, "format": "csv"}, token).text
        assert text == ",".join(keys) + "\r\n", text


def test_the_risk_matrix_csv_of_no_matrix_has_its_header(client: httpx.Client) -> None:
    text = _get(client, "/v1/books/desk-a/risk-matrix", {"format": "csv"}).text
    header = next(csv.reader(io.StringIO(text)))
    assert "pnl_usd" in header and len(text.splitlines()) > 1
    empty = _get(client, "/v1/books/desk-a/risk-matrix",
                 {"format": "csv", "at": "2026-03-01T00:00:00Z"}).text
    assert empty == ",".join(header) + "\r\n", empty
