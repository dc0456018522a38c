"""`greekstream whatif --trades FILE` as a trader writes the file: by hand, on any editor."""

from __future__ import annotations

import pytest

from greekstream.commands.whatif import parse_trades
from greekstream.errors import UsageError

TRADE = b'{"book": "desk-a", "instrument_id": "BTC-PERPETUAL", "side": "sell", "quantity": 5}'


def test_a_leading_byte_order_mark_is_not_part_of_the_json() -> None:
    # Notepad and Excel write UTF-8 with a BOM; the events file and the returns file ignore
    # it, the trades file was refused ("BOM is not supported")
    assert parse_trades(b"\xef\xbb\xbf" + TRADE + b"\r\n") == parse_trades(TRADE)
    assert parse_trades(b"\xef\xbb\xbf[" + TRADE + b"]") == parse_trades(TRADE)


def test_a_line_that_is_not_json_is_named_by_its_line() -> None:
    # each line is parsed alone: orjson said "line 1" whichever line it was
    body = TRADE + b"\n\n" + TRADE + b"\n" + TRADE.replace(b"}", b",}") + b"\n"
    with pytest.raises(UsageError) as said:
        parse_trades(body)
    first = str(said.value).splitlines()[0]
    assert first.startswith("trades are not JSON: line 4: ")
    assert "line 1" not in first


def test_a_bad_trade_after_a_blank_line_names_its_line_too() -> None:
    body = b"\n\n" + TRADE.replace(b', "quantity": 5', b"") + b"\n"
    with pytest.raises(UsageError) as said:
        parse_trades(body)
    assert str(said.value).splitlines()[0] == 'trade 1 (line 3) has no "quantity"'


def test_an_array_keeps_its_position_in_the_file() -> None:
    body = b"\n\n[" + TRADE + b",\n{,}]"
    with pytest.raises(UsageError) as said:
        parse_trades(body)
    assert "line 4" in str(said.value)
