"""A cascade that sells the asset to a price of zero (`--shock -0.999999 --depth 1e-12`,
both inside the documented ranges) values every book at that price. An inverse
contract's USD P&L, (1/F − 1/F')·F' per coin of contract size, is inf·0 there: every
book holding one printed `nan` (with numpy RuntimeWarnings). Its limit is F'/F − 1 = −1;
options go to their limits (a call 0, a put its strike)."""

from __future__ import annotations

import json
import math
import warnings
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import QuantLib as ql

from greekstream.cli import main

from .test_cascade_command import events

pytestmark = pytest.mark.timeout(60)
T = "2026-03-01T00:01:{:02d}Z"


def test_a_cascade_to_a_price_of_zero_values_inverse_and_option_books_at_the_limit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = events(tmp_path)
    extra = [
        {"type": "instrument", "event_id": "inv", "ts": T.format(0), "instrument_id": "ETH-INV",
         "kind": "perpetual", "underlying": "ETH", "settlement": "inverse",
         "contract_size": 10.0},
        {"type": "quote", "event_id": "qi", "ts": T.format(1), "instrument_id": "ETH-INV",
         "mark_price": 2000.0},
        {"type": "trade", "event_id": "ti", "ts": T.format(2), "book": "inv",
         "instrument_id": "ETH-INV", "side": "buy", "quantity": 3.0, "price": 2000.0},
        {"type": "instrument", "event_id": "put", "ts": T.format(3), "instrument_id": "ETH-P1800",
         "kind": "option", "underlying": "ETH", "settlement": "linear", "contract_size": 1.0,
         "strike": 1800.0, "expiry": "2026-06-26T08:00:00Z", "option_type": "put"},
        {"type": "quote", "event_id": "qp", "ts": T.format(4), "instrument_id": "ETH-P1800",
         "underlying_price": 2000.0, "mark_iv": 0.6},
        {"type": "trade", "event_id": "tp", "ts": T.format(5), "book": "opt",
         "instrument_id": "ETH-P1800", "side": "buy", "quantity": 1.0, "price": 100.0},
    ]
    with path.open("ab") as out:
        out.write(b"\n".join(orjson.dumps(r) for r in extra) + b"\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (divide by zero) fails the test
        assert main(["cascade", str(path), "--asset", "ETH", "--shock", "-0.999999",
                     "--depth", "1e-12"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["final_price"] == 0.0  # sold to nothing: the case under test
    books = {b["book"]: b["pnl"] for b in doc["books"]}
    assert books["inv"] == pytest.approx(-30.0, abs=1e-9)  # 3 contracts of 10 USD: −n·cs
    # the put goes from its Black-76 value (QuantLib, undiscounted on the forward) to its
    # strike: P&L = 1800 − V
    years = (datetime(2026, 6, 26, 8, tzinfo=UTC)
             - datetime(2026, 3, 1, 0, 1, 5, tzinfo=UTC)).total_seconds() / (365 * 86400)
    value = ql.blackFormula(ql.Option.Put, 1800.0, 2000.0, 0.6 * math.sqrt(years), 1.0)
    assert books["opt"] == pytest.approx(1800.0 - value, rel=1e-9)
