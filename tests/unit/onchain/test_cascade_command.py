"""`greekstream cascade` end to end on a file: the engine's loans and slices, by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import orjson
import pytest

from greekstream.cli import main

from .population import DEPTH, ROWS
from .test_cascade_hand import hand

pytestmark = pytest.mark.timeout(60)
T = "2026-03-01T00:00:{:02d}Z"


def events(tmp_path: Path) -> Path:
    recs: list[dict[str, object]] = [
        {"type": "index", "event_id": "i1", "ts": T.format(0), "underlying": "ETH",
         "price": 2000.0},
        {"type": "index", "event_id": "i2", "ts": T.format(0), "underlying": "WBTC",
         "price": 60_000.0},
        {"type": "instrument", "event_id": "perp", "ts": T.format(1), "instrument_id": "ETH-P",
         "kind": "perpetual", "underlying": "ETH", "settlement": "linear", "contract_size": 1.0},
        {"type": "quote", "event_id": "q", "ts": T.format(2), "instrument_id": "ETH-P",
         "mark_price": 2010.0},
        {"type": "trade", "event_id": "t", "ts": T.format(3), "book": "a", "instrument_id": "ETH-P",
         "side": "buy", "quantity": 2.0, "price": 2010.0},
    ]
    for i, (book, ca, coll, da, debt, lt, bonus, cf) in enumerate(ROWS):
        recs.append({"type": "loan", "event_id": f"loan{i}", "ts": T.format(10 + i), "book": book,
                     "position_id": "ABCDE"[i], "protocol": "aave-v3", "collateral_asset": ca,
                     "collateral_amount": coll, "debt_asset": da, "debt_amount": debt,
                     "liquidation_threshold": lt, "liquidation_bonus": bonus, "close_factor": cf,
                     "chain": "ethereum", "block_number": 100 + i})
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in recs) + b"\n")
    return path


def cascade(path: Path, *extra: str) -> list[str]:
    return ["cascade", str(path), "--asset", "ETH", "--shock", "-0.2", "--depth", str(DEPTH),
            *extra]


def test_json_equals_the_hand_calculation(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cascade(events(tmp_path), "--format", "json")) == 0
    doc = json.loads(capsys.readouterr().out)
    exp = hand()
    pf = exp["final"]
    assert (doc["asset"], doc["shock"], doc["depth"], doc["initial_price"]) == \
        ("ETH", -0.2, DEPTH, 2000.0)
    assert doc["final_price"] == pytest.approx(pf, rel=1e-12)
    assert [(r["round"], r["liquidated"]) for r in doc["rounds"]] == \
        [(e[0], e[2]) for e in exp["rounds"]]  # type: ignore[attr-defined]
    a_coll, a_debt = exp["a"]  # type: ignore[misc]
    b_coll, _ = exp["b"]  # type: ignore[misc]
    move = pf / 2000.0 - 1  # type: ignore[operator]
    pnl_a = ((a_coll * pf - a_debt) - (10 * 2000 - 14_000)  # loan A
             + (60_000 - 10 * pf) - (60_000 - 10 * 2000)  # loan E (ETH debt)
             + 2 * (2010 * (1 + move) - 2010))  # the perpetual, scenario P&L at the final move
    pnl_b = (b_coll * pf) - (5 * 2000 - 5000)  # loan B; C is worth 0 before and after
    assert [b["book"] for b in doc["books"]] == ["a", "b"]
    assert doc["books"][0]["pnl"] == pytest.approx(pnl_a, rel=1e-12)
    assert doc["books"][1]["pnl"] == pytest.approx(pnl_b, rel=1e-12)


def test_as_of_counts_only_earlier_loans(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # at 00:00:10 only loan A exists: round 1 liquidates A alone (7350 USD sold)
    assert main(cascade(events(tmp_path), "--as-of", T.format(10))) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rounds"][0]["liquidated"] == 1
    assert doc["rounds"][0]["sold_usd"] == pytest.approx(7000 * 1.05)


def test_table_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = events(tmp_path)
    assert main(cascade(path, "--format", "table")) == 0
    text = capsys.readouterr().out
    assert "round" in text and "final" in text and "\na " in text
    assert len([ln for ln in text.splitlines() if ln.strip()[:1].isdigit()]) == 5
    png = tmp_path / "c.png"
    assert main(cascade(path, "--format", "png", "--out", str(png))) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--asset", "SOL", "--shock", "-0.2", "--depth", "5"], "unknown asset 'SOL'"),
    (["--asset", "ETH", "--shock", "-1", "--depth", "5"], "bad --shock"),
    (["--asset", "ETH", "--shock", "-0.2", "--depth", "0"], "bad --depth"),
    (["--asset", "ETH", "--shock", "-0.2", "--depth", "-3"], "bad --depth"),
    # bounded: a shock past +1000 % or a depth past 1e15 overflowed prices and P&Ls
    (["--asset", "ETH", "--shock", "10.01", "--depth", "5"], "bad --shock 10.01: a price "
                                                            "shock is a fraction above -1 "
                                                            "and at most 10 (+1000%)"),
    (["--asset", "ETH", "--shock", "1e300", "--depth", "5"], "bad --shock"),
    (["--asset", "ETH", "--shock", "nan", "--depth", "5"], "bad --shock"),
    (["--asset", "ETH", "--shock=-inf", "--depth", "5"], "bad --shock"),
    (["--asset", "ETH", "--shock", "-0.2", "--depth", "1.1e15"],
     "bad --depth 1100000000000000.0: the market depth is a number of USD from 1e-12 to 1e+15"),
    (["--asset", "ETH", "--shock", "-0.2", "--depth", "1e-13"], "bad --depth"),
    (["--asset", "ETH", "--shock", "-0.2", "--depth", "inf"], "bad --depth"),
    (["--asset", "ETH", "--shock", "-0.2", "--depth", "nan"], "bad --depth"),
])
def test_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                      message: str) -> None:
    assert main(["cascade", str(events(tmp_path)), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "hint:" in err and "Traceback" not in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cascade(tmp_path / "nope.jsonl")) == 2
    assert "no such events file" in capsys.readouterr().err


def test_the_ends_of_the_ranges_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = events(tmp_path)
    for shock, depth in (("10", "1e15"), ("-0.999999", "1e-12")):
        assert main(["cascade", str(path), "--asset", "ETH", "--shock", shock, "--depth",
                     depth]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert math.isfinite(doc["final_price"]), (shock, depth)
