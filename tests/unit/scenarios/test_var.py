"""Historical VaR and ES (SPEC.md): hand-built tails, joint moves, `greekstream var` against
the independent reference (tests/reference/var_model.py), and the file's errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from greekstream.cli import main
from greekstream.core.timeutil import parse_ts
from greekstream.core.var import Returns, book_var, tail_size, var_es
from greekstream.errors import ConfigError
from greekstream.runtime.returns_file import parse_returns
from tests.reference.var_model import var_reference
from tests.unit.builders import index, quote_mark, quote_opt, rec, trade
from tests.unit.scenarios.slices import f64, linear, make

pytestmark = pytest.mark.timeout(60)


# ----------------------------------------------------------------------------- the tail


def test_tail_size_is_exact_decimal() -> None:
    # (1 - 0.99) * 100 is 1.0000000000000009 in floats: the tail is still 1 day
    assert tail_size(0.99, 100) == 1
    assert tail_size(0.99, 250) == 3  # 2.5 -> 3
    assert tail_size(0.95, 250) == 13  # 12.5 -> 13
    assert tail_size(0.975, 40) == 1
    assert tail_size(0.9, 10) == 1
    assert tail_size(0.5, 7) == 4
    assert tail_size(0.999, 10) == 1  # never an empty tail
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            tail_size(bad, 10)


def test_var_is_the_kth_worst_and_es_the_tail_mean() -> None:
    pnl = f64(5.0, -40.0, 12.0, -7.0, -100.0, 3.0, -15.0, 0.0, 8.0, -2.0)
    # 0.8 of 10 days: k = 2, the two worst are -100 and -40
    var, es, k = var_es(pnl, 0.8)
    assert (k, var, es) == (2, 40.0, 70.0)
    # 0.7: k = 3 -> -100, -40, -15
    var, es, k = var_es(pnl, 0.7)
    assert (k, var, es) == (3, 15.0, 155.0 / 3)
    # 0.95: k = 1, VaR = ES = the worst day
    assert var_es(pnl, 0.95) == (100.0, 100.0, 1)


def test_a_book_that_only_gains_has_a_negative_var() -> None:
    var, es, _ = var_es(f64(1.0, 2.0, 3.0, 4.0), 0.75)
    assert (var, es) == (-1.0, -1.0)


def _returns(dates: list[str], **cols: list[float]) -> Returns:
    rets = {u: np.array(v) for u, v in cols.items() if not u.endswith("_vol")}
    vols = {u[:-4]: np.array(v) for u, v in cols.items() if u.endswith("_vol")}
    return Returns(tuple(dates), rets, vols)


def test_a_linear_book_by_hand() -> None:
    # 2 BTC long at a mark of 50,000: P&L = 2 * 50,000 * (e^r - 1)
    s = make(linear=linear([2.0], [50_000.0]))
    r = [0.01, -0.05, 0.02, -0.10, 0.0]
    days = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
    result = book_var("desk-a", [s], _returns(days, BTC=r), 0, confidence=0.6)
    expected = [2 * 50_000.0 * (math.exp(x) - 1) for x in r]
    assert result.pnl.tolist() == pytest.approx(expected, rel=1e-14)
    assert result.tail == 2
    assert result.var == pytest.approx(-expected[1], rel=1e-14)
    assert result.es == pytest.approx(-(expected[1] + expected[3]) / 2, rel=1e-14)
    assert result.worst_date == "2026-01-04"


# ----------------------------------------------------------------------------- events

EXP = "2026-04-24T08:00:00Z"
AS_OF = 3_600.0


def _instrument(iid: str, u: str, kind: str, settlement: str, size: float,
                **extra: object) -> bytes:
    return rec("instrument", f"def-{iid}", 0, instrument_id=iid, kind=kind, underlying=u,
               settlement=settlement, contract_size=size, **extra)


def _loan(eid: str, at: float, book: str, pid: str, coll: str, coll_amt: float, debt: str,
          debt_amt: float) -> bytes:
    return rec("loan", eid, at, book=book, position_id=pid, protocol="aave-v3",
               collateral_asset=coll, collateral_amount=coll_amt, debt_asset=debt,
               debt_amount=debt_amt, liquidation_threshold=0.8, liquidation_bonus=0.05,
               close_factor=0.5)


def desk_events() -> list[bytes]:
    """Books with options, perpetuals, spot, collateral, loans and an LP across BTC and ETH
    (and a USDC index: USDC is never shocked)."""
    return [
        _instrument("BTC-C", "BTC", "option", "inverse", 1.0, expiry=EXP, strike=70_000.0,
                    option_type="call"),
        _instrument("BTC-P", "BTC", "option", "linear", 0.1, expiry=EXP, strike=55_000.0,
                    option_type="put"),
        _instrument("ETH-C", "ETH", "option", "linear", 1.0, expiry=EXP, strike=2_400.0,
                    option_type="call"),
        _instrument("ETH-P", "ETH", "option", "inverse", 1.0, expiry="2026-03-06T08:00:00Z",
                    strike=1_900.0, option_type="put"),
        _instrument("BTC-PERPETUAL", "BTC", "perpetual", "inverse", 10.0),
        _instrument("ETH-USDC", "ETH", "perpetual", "linear", 0.1),
        _instrument("BTC-SPOT", "BTC", "spot", "linear", 1.0),
        index("i1", 10, 62_000.0),
        index("i2", 10, 2_100.0, "ETH"),
        index("i3", 10, 0.9995, "USDC"),
        quote_opt("q1", 20, "BTC-C", 62_400.0, 0.55),
        quote_opt("q2", 20, "BTC-P", 62_400.0, 0.63),
        rec("quote", "q3", 20, instrument_id="ETH-C", underlying_price=2_110.0, mark_iv=0.68),
        rec("quote", "q4", 20, instrument_id="ETH-P", underlying_price=2_102.0, mark_iv=0.85),
        quote_mark("q5", 20, "BTC-PERPETUAL", 62_010.0),
        quote_mark("q6", 20, "ETH-USDC", 2_099.5),
        quote_mark("q7", 20, "BTC-SPOT", 61_990.0),
        trade("t1", 30, "BTC-C", "sell", 40.0),
        trade("t2", 31, "BTC-P", "buy", 300.0),
        trade("t3", 32, "ETH-C", "buy", 250.0),
        trade("t4", 33, "BTC-PERPETUAL", "buy", 15_000.0),
        trade("t5", 34, "ETH-USDC", "sell", 1_800.0),
        trade("t6", 35, "ETH-P", "sell", 120.0, book="desk-b"),
        trade("t7", 36, "BTC-SPOT", "buy", 3.0, book="desk-b"),
        trade("t8", 37, "ETH-USDC", "buy", 900.0, book="desk-b"),
        rec("collateral", "c1", 40, book="desk-a", asset="BTC", amount=4.0),
        rec("collateral", "c2", 41, book="desk-b", asset="USDC", amount=2_000_000.0),
        _loan("l1", 50, "desk-a", "ln-1", "ETH", 800.0, "USDC", 900_000.0),
        _loan("l2", 51, "treasury", "ln-2", "BTC", 30.0, "USD", 700_000.0),
        _loan("l3", 52, "treasury", "ln-3", "ETH", 500.0, "BTC", 6.0),
        rec("lp_position", "lp1", 53, book="desk-b", position_id="lp-1",
            pool="uniswap-v3:WETH/USDC", base="ETH", liquidity=90_000.0,
            price_lower=1_800.0, price_upper=2_500.0),
        index("i4", AS_OF, 62_050.0),
    ]


def returns_csv(n: int = 120, seed: int = 3, vol: bool = True) -> str:
    rng = np.random.default_rng(seed)
    btc = rng.standard_t(3, n) * 0.025
    eth = 0.8 * btc * 1.3 + rng.standard_t(3, n) * 0.015
    lines = ["date,BTC,BTC_vol,ETH,ETH_vol" if vol else "date,BTC,ETH"]
    for j in range(n):
        day = np.datetime64("2025-06-01") + j
        dv = (-2.0 * btc[j], -2.2 * eth[j])
        row = [str(day), repr(float(btc[j]))]
        row += [repr(float(dv[0]))] if vol else []
        row += [repr(float(eth[j]))]
        row += [repr(float(dv[1]))] if vol else []
        lines.append(",".join(row))
    return "\n".join(lines) + "\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(desk_events()) + b"\n")
    returns = tmp_path / "returns.csv"
    returns.write_text(returns_csv())
    return events, returns


def var_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["var", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("confidence", [0.99, 0.95, 0.9])
def test_var_json_matches_the_independent_reference(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], confidence: float
) -> None:
    events, returns = files
    got = var_json(capsys, str(events), "--returns", str(returns), "--confidence",
                   str(confidence))
    want = var_reference(events, returns, confidence=confidence)
    assert [g["book"] for g in got] == [w["book"] for w in want] == \
        ["desk-a", "desk-b", "treasury"]
    for g, w in zip(got, want, strict=True):
        assert g["scenarios"] == w["scenarios"] == 120
        assert g["confidence"] == confidence
        assert g["as_of"] == "2026-03-01T01:00:00Z"
        assert g["worst_date"] == w["worst_date"]
        for key in ("var", "es"):
            assert g[key] == pytest.approx(w[key], rel=1e-9), (g["book"], key)


def test_var_as_of_and_book(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    events, returns = files
    got = var_json(capsys, str(events), "--returns", str(returns), "--as-of",
                   "2026-03-01T00:00:51.500Z", "--book", "treasury")
    assert [g["book"] for g in got] == ["treasury"]
    assert got[0]["as_of"] == "2026-03-01T00:00:51.500Z"
    # by then treasury has its BTC loan only (the ETH/BTC one comes at 00:00:52)
    want = var_reference(events, returns, as_of=parse_ts("2026-03-01T00:00:51.500Z"))
    assert [w["book"] for w in want] == ["desk-a", "desk-b", "treasury"]
    assert got[0]["var"] == pytest.approx(want[2]["var"], rel=1e-9)
    assert got[0]["es"] == pytest.approx(want[2]["es"], rel=1e-9)
    assert got[0]["worst_date"] == want[2]["worst_date"]


def test_joint_moves_add_up_when_the_books_are_independent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A book holding a BTC book's and an ETH book's positions loses, day by day, what the
    two lose apart: the joint P&L is the sum of the per-underlying P&Ls."""
    from greekstream.commands.var import var_reports
    from greekstream.runtime.replay import read_records, replay

    base = [e for e in desk_events() if b'"trade"' not in e and b'"loan"' not in e
            and b'"collateral"' not in e and b'"lp_position"' not in e]
    btc = [trade("a1", 30, "BTC-C", "sell", 40.0, book="btc"),
           trade("a2", 31, "BTC-PERPETUAL", "buy", 15_000.0, book="btc"),
           _loan("a3", 32, "btc", "ln-b", "BTC", 10.0, "USDC", 300_000.0)]
    eth = [trade("b1", 33, "ETH-C", "buy", 250.0, book="eth"),
           trade("b2", 34, "ETH-USDC", "sell", 1_800.0, book="eth")]
    both = [e.replace(b'"book":"btc"', b'"book":"all"').replace(b'"book":"eth"', b'"book":"all"')
            .replace(b'"event_id":"', b'"event_id":"x').replace(b'"ln-b"', b'"ln-all"')
            for e in btc + eth]
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(base[:-1] + btc + eth + both + base[-1:]) + b"\n")
    returns = parse_returns(returns_csv())
    result = replay(read_records(events))
    assert result.as_of_us is not None
    by_book = {r.book: r for r in var_reports(result.engine, result.as_of_us, returns)}
    assert set(by_book) == {"all", "btc", "eth"}
    joint = by_book["all"].pnl
    apart = by_book["btc"].pnl + by_book["eth"].pnl
    np.testing.assert_allclose(joint, apart, rtol=1e-12, atol=1e-6)
    # and the tail of the sum is not the sum of the tails (diversification)
    assert by_book["all"].var < by_book["btc"].var + by_book["eth"].var


def test_a_cross_asset_loan_moves_both_legs(tmp_path: Path) -> None:
    from greekstream.commands.var import var_reports
    from greekstream.runtime.replay import read_records, replay

    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join([
        index("i1", 1, 60_000.0), index("i2", 1, 2_000.0, "ETH"),
        _loan("l1", 2, "t", "ln", "ETH", 100.0, "BTC", 2.0),
    ]) + b"\n")
    returns = parse_returns("date,BTC,ETH\n2026-01-01,-0.1,0.05\n2026-01-02,0.02,-0.2\n")
    result = replay(read_records(events))
    assert result.as_of_us is not None
    [r] = var_reports(result.engine, result.as_of_us, returns, 0.5)
    for j, (rb, re) in enumerate(((-0.1, 0.05), (0.02, -0.2))):
        want = 100.0 * 2_000.0 * math.expm1(re) - 2.0 * 60_000.0 * math.expm1(rb)
        assert r.pnl[j] == pytest.approx(want, rel=1e-13)


def test_stablecoins_are_never_shocked(tmp_path: Path) -> None:
    """A USDC column in the file is ignored: a book of USDC collateral has no VaR."""
    from greekstream.commands.var import var_reports
    from greekstream.runtime.replay import read_records, replay

    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join([
        index("i1", 1, 1.0, "USDC"),
        rec("collateral", "c1", 2, book="t", asset="USDC", amount=5_000_000.0),
    ]) + b"\n")
    returns = parse_returns("date,USDC\n2026-01-01,-0.1\n2026-01-02,-0.3\n")
    result = replay(read_records(events))
    assert result.as_of_us is not None
    [r] = var_reports(result.engine, result.as_of_us, returns, 0.5)
    assert (r.var, r.es) == (0.0, 0.0)
    assert r.pnl.tolist() == [0.0, 0.0]


def test_var_table_and_png(files: tuple[Path, Path], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    events, returns = files
    capsys.readouterr()
    assert main(["var", str(events), "--returns", str(returns), "--format", "table"]) == 0
    text = capsys.readouterr().out
    assert "VaR (USD)" in text and "desk-a" in text and "treasury" in text
    png = tmp_path / "var.png"
    assert main(["var", str(events), "--returns", str(returns), "--format", "png",
                 "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- errors


def _fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(["var", *argv]) == 2
    return capsys.readouterr().err


def test_clear_errors(files: tuple[Path, Path], tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    events, returns = files
    only_btc = tmp_path / "btc.csv"
    only_btc.write_text("date,BTC\n2026-01-01,0.01\n2026-01-02,-0.02\n")
    err = _fails(capsys, str(events), "--returns", str(only_btc))
    assert "ETH" in err and "hint" in err
    err = _fails(capsys, str(events), "--returns", str(returns), "--confidence", "1")
    assert "strictly between 0 and 1" in err
    err = _fails(capsys, str(events), "--returns", str(returns), "--book", "nobody")
    assert "unknown book" in err
    err = _fails(capsys, str(events), "--returns", str(tmp_path / "missing.csv"))
    assert "no such returns file" in err
    err = _fails(capsys, "--returns", str(returns))
    assert "events file or --from-history" in err


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("day,BTC\n2026-01-01,0.1\n", "first column must be `date`"),
    ("date,BTC\n", "no rows"),
    ("date,BTC\n2026-01-01,\n", "gap in the history"),
    ("date,BTC\n2026-01-01,abc\n", "not a number"),
    ("date,BTC\n2026-01-01,nan\n", "not finite"),
    ("date,BTC\n2026-01-01,0.1\n2026-01-01,0.1\n", "appears twice"),
    ("date,BTC\n01/02/2026,0.1\n", "not YYYY-MM-DD"),
    ("date,BTC,ETH_vol\n2026-01-01,0.1,0.0\n", "ETH_vol without its return column"),
    ("date,BTC,BTC\n2026-01-01,0.1,0.1\n", "repeated"),
    ("date,BTC\n2026-01-01,0.1,0.2\n", "3 cells for 2 columns"),
])
def test_bad_returns_files(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_returns(text, "r.csv")


def test_rows_in_any_order_and_a_bom() -> None:
    """Newest-first files (common in data exports) and a spreadsheet's BOM are read as is."""
    r = parse_returns("date,BTC\n2026-01-03,0.01\n2026-01-02,-0.2\n2026-01-01,0.03\n")
    assert r.dates == ("2026-01-03", "2026-01-02", "2026-01-01")
    s = make(linear=linear([1.0], [100.0]))
    assert book_var("b", [s], r, 0, 0.5).worst_date == "2026-01-02"


def test_a_bom_is_not_part_of_the_header(tmp_path: Path) -> None:
    from greekstream.runtime.returns_file import load_returns

    p = tmp_path / "r.csv"
    p.write_bytes("\ufeffdate,BTC\n2026-01-01,0.01\n".encode())
    assert load_returns(p).underlyings == ("BTC",)

