"""Names from the store drawn into the API's PNGs are text, never mathtext: matplotlib
reads what lies between two "$" as TeX, so a book named ``a $\\x$`` made the VaR PNG a
500 (an unknown symbol) and deep braces a RecursionError."""

from __future__ import annotations

import pytest

from greekstream.api.app import plain, var_png

NAMES = ["desk $\\nosuchcmd$", "desk $" + "{" * 200 + "x" + "}" * 200 + "$", "a$b", "$$",
         "back\\$slash$"]


@pytest.mark.parametrize("book", NAMES)
def test_a_book_named_like_mathtext_draws_its_var_png(book: str) -> None:
    event = {"book": book, "as_of": "2026-03-02T00:00:00Z", "confidence": 0.95,
             "pnl": [float((i * 37) % 101 - 50) for i in range(60)],
             "first_date": "2026-01-01", "last_date": "2026-03-01",
             "worst_date": "2026-02-01", "var": 45.0, "es": 48.0, "unshocked": [book]}
    assert var_png(event)[:8] == b"\x89PNG\r\n\x1a\n"


def test_plain_text_is_shown_as_it_is() -> None:
    from matplotlib import cbook
    from matplotlib.text import Text

    for name in NAMES:
        assert not cbook.is_math_text(plain(name))
        assert Text(text=plain(name))._preprocess_math(plain(name)) == (name, False)
