"""CSV exports over a real chDB history: a book whose name is a spreadsheet formula comes
out as text (behind a single quote), and its numbers, negative ones included, as they are
(OWASP "CSV Injection"; reports/tables.py ``csv_cell``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from tests.integration.history.conftest import ALL_TOKEN, _serving, store_trades

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

AUTH = {"Authorization": f"Bearer {ALL_TOKEN}"}
BOOK = '=HYPERLINK("http://x","y")'
AT = "2026-03-01T00:00:30Z"


@pytest.fixture
def formula_book_url(dsn: str, tokens_file: Path, tmp_path: Path) -> Iterator[str]:
    store_trades(dsn, tmp_path, [(BOOK, "sell", 90.0)])  # short 1 at 90, marked at 100:
    with _serving(dsn, tokens_file) as url:  # delta -1, P&L -10
        yield url


def _csv(client: httpx.Client, path: str, **params: str) -> list[dict[str, str]]:
    r = client.get(path, headers=AUTH, params={**params, "format": "csv"})
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text, newline="")))


def test_a_formula_book_is_text_in_csv_and_its_numbers_stay_numbers(
    formula_book_url: str,
) -> None:
    with httpx.Client(base_url=formula_book_url, timeout=60) as client:
        (exposure,) = _csv(client, "/v1/exposures", at=AT)
        assert exposure["book"] == "'" + BOOK
        assert float(exposure["delta"]) == -1.0 and exposure["delta"].startswith("-")
        (pnl,) = _csv(client, f"/v1/books/{quote(BOOK, safe='')}/pnl", at=AT)
        assert pnl["book"] == "'" + BOOK and pnl["underlying"] == "BTC"
        assert pnl["unrealized_usd"] == "-10.0" and pnl["total_usd"] == "-10.0"
        listed = client.get("/v1/books", headers=AUTH).json()
        assert BOOK in listed  # JSON answers are not escaped: only the CSV cells
