"""`greekstream whatif` end to end on a small events file: the table's numbers and the
errors of a bad trades file."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from tests.cli import run
from tests.unit.builders import option, perp, quote_mark, quote_opt, trade

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    p = tmp_path / "events.jsonl"
    p.write_bytes(b"\n".join([
        option("C60", 60_000.0),
        perp(),
        quote_opt("q1", 20, "C60", 55_500.0, 0.62),
        quote_mark("q2", 21, "BTC-PERPETUAL", 55_510.0),
        trade("t1", 30, "C60", "sell", 25.0),
        trade("t2", 31, "BTC-PERPETUAL", "buy", 10_000.0),
    ]) + b"\n")
    return p


def _trades(tmp_path: Path, *items: object) -> Path:
    p = tmp_path / "trades.jsonl"
    p.write_bytes(b"\n".join(orjson.dumps(i) for i in items) + b"\n")
    return p


def test_table_shows_a_small_gamma_with_its_own_digits(events_file: Path,
                                                         tmp_path: Path) -> None:
    """The before/after/change columns mix a delta of thousands with a gamma of 1e-4:
    each row has its own decimals, so the gamma is not printed as 0.00."""
    trades = _trades(tmp_path, {"book": "desk-a", "instrument_id": "C60", "side": "buy",
                                "quantity": 5})
    code, out, err = run("whatif", str(events_file), "--trades", str(trades))
    assert code == 0, err
    (gamma,) = [line.split()[2:] for line in out.splitlines() if line.split()[1:2] == ["gamma"]]
    before, after, change = (float(x.replace(",", "")) for x in gamma)
    assert before != 0 and after != 0 and change != 0, out
    assert before != after, out
    assert all(len(re.sub(r"\D", "", x).lstrip("0")) >= 4 for x in gamma), gamma


@pytest.mark.parametrize(("item", "message"), [
    ({"book": "desk-a", "instrument_id": "C60", "quantity": 5}, 'trade 1 has no "side"'),
    ({"type": "instrument", "instrument_id": "C60"},
     'trade 1 has no "side", "quantity", "book" (it looks like an input event of type '
     "'instrument': --trades takes hypothetical trades, not events)"),
    ({"book": "desk-a", "instrument_id": "C60", "side": "short", "quantity": 5},
     'trade 1 has "side" \'short\': it must be "buy" or "sell"'),
    ({"book": "desk-a", "instrument_id": "C60", "side": "buy", "quantity": "5x"},
     'trade 1 has a "quantity" that is not a number: "5x"'),
    ("buy", 'trade 1 is not a JSON object but "buy"'),
])
def test_a_bad_trade_is_named_in_plain_words(events_file: Path, tmp_path: Path, item: object,
                                             message: str) -> None:
    code, _, err = run("whatif", str(events_file), "--trades", str(_trades(tmp_path, item)))
    assert code == 2
    first, hint = err.splitlines()
    assert first == f"greekstream whatif: error: {message}"
    assert "Error" not in err and '"side": "buy" or "sell"' in hint
