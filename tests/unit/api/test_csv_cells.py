"""The API's CSV exports are safe to open in a spreadsheet (OWASP "CSV Injection"): a
string cell that starts with = + - @, a tab or a CR comes out behind a single quote, so
Excel or LibreOffice shows it as text instead of running it; numbers, negative ones
too, and every other string come out as they are; a cell holding a CR or LF stays one
cell (lines end in CRLF, so the csv module quotes a lone CR too: with "\n" it did not,
and a spreadsheet started a new row, and a formula, after it)."""

from __future__ import annotations

import csv
import io

from greekstream.api.app import _render

FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1", "\0=1+1"]


def _table(rows: list[dict[str, object]]) -> list[dict[str, str]]:
    response = _render(rows, "csv", "t", list(rows[0]))
    assert response.media_type == "text/csv"
    return list(csv.DictReader(io.StringIO(bytes(response.body).decode(), newline="")))


def test_a_string_that_starts_like_a_formula_is_quoted_numbers_are_not() -> None:
    rows: list[dict[str, object]] = [
        {"book": text, "delta": -1.5, "positions": -3, "pnl": {"total_usd": -2.0}}
        for text in FORMULAS]
    table = _table(rows)
    assert [r["book"] for r in table] == ["'" + text for text in FORMULAS]
    assert {r["delta"] for r in table} == {"-1.5"} and {r["positions"] for r in table} == {"-3"}
    assert {r["pnl"] for r in table} == {'{"total_usd":-2.0}'}


def test_other_strings_and_values_are_unchanged() -> None:
    plain = ["desk-a", "fx/desk", "a=b", "2026-03-02T01:00:00Z", "", " =x", "'=x", "é",
             "x\r=1+1", "x\n=1+1", "x\r\n@A1"]  # one cell each: no row starts at =
    rows: list[dict[str, object]] = [{"book": text, "v": 0.0, "ok": True, "n": None}
                                     for text in plain]
    table = _table(rows)
    assert [r["book"] for r in table] == plain and len(table) == len(plain)
    assert {(r["v"], r["ok"], r["n"]) for r in table} == {("0.0", "True", "")}
