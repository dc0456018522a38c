"""Names from desks' data are drawn into every PNG as they are, never as mathtext:
matplotlib reads what lies between two "$" as TeX, so a book named ``a $\\x$`` failed the
figure (an unknown symbol; deep braces a RecursionError). reports/plots turns mathtext
off for all of its figures: the CLI's reports and the API's PNGs alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.text import Text

from greekstream.api.app import var_png
from greekstream.commands.stress import stress_reports
from greekstream.core.engine import Engine
from greekstream.core.timeutil import parse_ts
from greekstream.reports.plots import risk_figure, risk_heatmaps
from tests.unit import builders as b

NAMES = ["desk $\\nosuchcmd$", "desk $" + "{" * 200 + "x" + "}" * 200 + "$", "a$b", "$$",
         "back\\$slash$"]
CALL = "BTC-27MAR26-60000-C"
PNG = b"\x89PNG\r\n\x1a\n"


def test_text_is_shown_as_it_is() -> None:
    for name in NAMES:
        assert Text(text=name)._preprocess_math(name) == (name, False)


@pytest.mark.parametrize("book", NAMES)
def test_a_book_named_like_mathtext_draws_its_var_png(book: str) -> None:
    event = {"book": book, "as_of": "2026-03-02T00:00:00Z", "confidence": 0.95,
             "pnl": [float((i * 37) % 101 - 50) for i in range(60)],
             "first_date": "2026-01-01", "last_date": "2026-03-01",
             "worst_date": "2026-02-01", "var": 45.0, "es": 48.0, "unshocked": [book]}
    assert var_png(event)[:8] == PNG


def test_the_cli_heatmaps_draw_such_books_with_their_names(tmp_path: Path) -> None:
    engine = Engine()
    records = [b.option(CALL, 60000), b.index("x0", 1, 61000),
               b.quote_opt("q0", 2, CALL, 61200, 0.62)]
    books = [name for name in NAMES if len(name) <= 128]  # a book name's limit
    records += [b.trade(f"t{i}", 3, CALL, "buy", 1 + i, book=name)
                for i, name in enumerate(books)]
    for i, raw in enumerate(records):
        engine.handle(raw, f"labels:{i}")
    at = parse_ts(b.ts(3))
    reports = stress_reports(engine, at)
    assert {r.matrix.book for r in reports} == set(books) and len(books) == 4
    titles = {ax.get_title() for ax in risk_figure(reports, "odd names", as_of_us=at).axes}
    assert all(any(t.startswith(f"{name} BTC:") for t in titles) for name in books), titles
    assert risk_heatmaps(reports, tmp_path / "risk.png", as_of_us=at).read_bytes()[:8] == PNG
