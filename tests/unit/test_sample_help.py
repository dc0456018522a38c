"""`greekstream sample --help` says what the profiles hold."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from greekstream.commands.sample import EXAMPLES
from greekstream.sample import write_sample


def test_help_names_the_number_of_books_of_the_small_profile(tmp_path: Path) -> None:
    """The help said "6 books" for the small (and day) profile; it has the demo desk's 5
    (desk-a, desk-b, mm-1, vol-arb, treasury)."""
    said = re.search(r"small .*?(\d+) books", EXAMPLES)
    assert said is not None
    path = tmp_path / "small.jsonl"
    write_sample(path, "kafka-test", seed=7, show_progress=False)
    books = {e["book"] for e in map(orjson.loads, path.read_bytes().splitlines()) if "book" in e}
    assert int(said.group(1)) == len(books)


def test_help_sizes_the_market_opening() -> None:
    """The help put the market profile's opening (its listing, opening quotes and the 200
    books' positions) at "the first ~56,000 events"; it is 59,573 with the default seed."""
    from greekstream.sample import market_stream as ms

    said = re.search(r"positions \(the first ~([\d,]+)", EXAMPLES)
    assert said is not None
    stream = ms.MarketStream(7, 10_000)
    opening = stream.total - stream.seconds * ms.per_second()
    assert abs(int(said.group(1).replace(",", "")) - opening) <= 0.02 * opening
