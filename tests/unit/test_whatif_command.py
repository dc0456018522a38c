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
    # an empty book was previewed as a book named "", which no input event can name
    ({"book": "", "instrument_id": "C60", "side": "buy", "quantity": 5},
     'trade 1 has a bad "book" "": String should have at least 1 character'),
    ({"book": "b" * 129, "instrument_id": "C60", "side": "buy", "quantity": 5},
     f'trade 1 has a bad "book" "{"b" * 79}: String should have at most 128 characters'),
])
def test_a_bad_trade_is_named_in_plain_words(events_file: Path, tmp_path: Path, item: object,
                                             message: str) -> None:
    code, _, err = run("whatif", str(events_file), "--trades", str(_trades(tmp_path, item)))
    assert code == 2
    first, hint = err.splitlines()
    assert first == f"greekstream whatif: error: {message}"
    assert "Error" not in err and '"side": "buy" or "sell"' in hint


GOOD = {"book": "desk-a", "instrument_id": "C60", "side": "buy", "quantity": 5}


@pytest.mark.parametrize(("change", "message"), [
    ({"side": "short"}, 'has "side" \'short\': it must be "buy" or "sell"'),
    ({"side": None}, 'has no "side"'),
    ({"quantity": -5}, 'has "quantity" -5: it must be more than 0'),
    ({"quantity": 0}, 'has "quantity" 0: it must be more than 0'),
    ({"quantity": "5x"}, 'has a "quantity" that is not a number: "5x"'),
    ({"price": 0}, 'has "price" 0: it must be more than 0'),
    ({"price": [1]}, 'has a "price" that is not a number: [1]'),
    ({"quantity": True}, 'has a "quantity" that is not a number: true'),
    ({"price": False}, 'has a "price" that is not a number: false'),
    ({"instrument_id": 60}, 'has an "instrument_id" that is not a string: 60'),
    ({"quantity": "inf"}, 'has "quantity" "inf": it must be a finite number'),
    ({"price": "NaN"}, 'has "price" "NaN": it must be a finite number'),
])
def test_the_cli_and_the_api_take_the_same_trades(change: dict[str, object],
                                                  message: str) -> None:
    """One model for a trade: what the API's body refuses (a 422, field by field), the
    trades file refuses too, in words."""
    from pydantic import ValidationError

    from greekstream.api.app import WhatIfRequest
    from greekstream.commands.whatif import parse_trades
    from greekstream.errors import UsageError

    item = {**GOOD, **change}
    with pytest.raises(ValidationError) as refused:
        WhatIfRequest.model_validate({"trades": [item]})
    assert refused.value.errors()[0]["loc"] == ("trades", 0, *change)
    with pytest.raises(UsageError) as said:
        parse_trades(orjson.dumps(item))
    assert str(said.value).splitlines()[0] == f"trade 1 {message}"


def test_a_trade_the_api_takes_the_cli_takes_the_same() -> None:
    from greekstream.api.app import WhatIfRequest
    from greekstream.commands.whatif import parse_trades

    taken = {**GOOD, "quantity": "5", "price": 1.5}  # a number in a string: both take it
    assert parse_trades(orjson.dumps(taken))["desk-a"] == [
        t.hypothetical() for t in WhatIfRequest.model_validate({"trades": [taken]}).trades]
