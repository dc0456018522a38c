"""`greekstream returns` against a hand-made store: closes are each UTC day's last index
event, the ATM vol is the option nearest to 30 days and to the money, gaps are errors."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from greekstream.cli import main
from greekstream.history import write_replay
from greekstream.runtime.returns_file import load_returns

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def rec(type_: str, eid: str, ts: str, **fields: object) -> bytes:
    return orjson.dumps({"type": type_, "event_id": eid, "ts": ts, **fields})


def opt(iid: str, expiry: str, strike: float) -> bytes:
    return rec("instrument", f"d-{iid}", "2026-01-01T00:00:00Z", instrument_id=iid,
               kind="option", underlying="BTC", settlement="inverse", contract_size=1.0,
               expiry=expiry, strike=strike, option_type="call")


def store() -> list[bytes]:
    """Jan 1..4 2026. Closes: 100 (the 23:00 print beats the 12:00 one), 110, 99, 99.
    Options (DTE from the end of each day): A expires 31 Jan (30 days after Jan 1,
    29 after Jan 2 ...), B 14 Feb (44 days after Jan 1), C 31 Jan at a far strike."""
    lines = [opt("A", "2026-01-31T00:00:00Z", 100.0), opt("B", "2026-02-14T00:00:00Z", 100.0),
             opt("C", "2026-01-31T00:00:00Z", 150.0)]
    closes = {"01": [(12, 95.0), (23, 100.0)], "02": [(23, 110.0)], "03": [(9, 99.0)],
              "04": [(23, 99.0)]}
    vols = {"01": (0.50, 0.40, 0.90), "02": (0.55, 0.45, 0.95), "03": (0.52, 0.30, 0.99),
            "04": (0.52, 0.30, 0.99)}
    for day, prints in closes.items():
        for hour, price in prints:
            ts = f"2026-01-{day}T{hour:02d}:00:00Z"
            lines.append(rec("index", f"i-{day}-{hour}", ts, underlying="BTC", price=price))
            lines.append(rec("index", f"e-{day}-{hour}", ts, underlying="ETH", price=price / 40))
        for iid, vol in zip("ABC", vols[day], strict=True):
            lines.append(rec("quote", f"q-{day}-{iid}", f"2026-01-{day}T20:00:00Z",
                             instrument_id=iid, underlying_price=prints[-1][1], mark_iv=vol))
    return lines


def test_the_builder_against_a_hand_made_store(dsn: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    records = [(r, f"hand.jsonl:{i + 1}") for i, r in enumerate(store())]
    write_replay(dsn, records, [])
    out = tmp_path / "r.csv"
    assert main(["returns", dsn, "--underlyings", "BTC", "--days", "3", "--out",
                 str(out)]) == 0
    r = load_returns(out)
    assert r.dates == ("2026-01-02", "2026-01-03", "2026-01-04")
    want = [math.log(110 / 100), math.log(99 / 110), 0.0]
    assert r.log_returns["BTC"].tolist() == pytest.approx(want, rel=1e-15, abs=1e-15)
    # ATM vol: Jan 1 A (30 days, at the money) 0.50; Jan 2 A (29 days) 0.55 over B (43);
    # Jan 3 A (28) 0.52 over B (42) and C (same expiry, far strike); Jan 4 A again 0.52
    assert r.vol_changes["BTC"].tolist() == pytest.approx([0.05, -0.03, 0.0], abs=1e-12)
    assert main(["returns", dsn, "--underlyings", "BTC,ETH", "--days", "3", "--no-vol",
                 "--out", str(out)]) == 0
    both = load_returns(out)
    assert both.log_returns["ETH"].tolist() == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert not both.vol_changes  # --no-vol leaves vol out


def test_gaps_are_errors(dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [x for x in store() if b'"i-03-9"' not in x]  # BTC has no close on Jan 3
    write_replay(dsn, [(r, f"hand.jsonl:{i + 1}") for i, r in enumerate(lines)], [])
    out = str(tmp_path / "r.csv")
    capsys.readouterr()
    assert main(["returns", dsn, "--underlyings", "BTC", "--days", "3", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "BTC: no index event (daily close) on 1 day(s) of the window: 2026-01-03" in err
    assert main(["returns", dsn, "--underlyings", "BTC", "--days", "1", "--to", "2026-01-02",
                 "--out", out]) == 0  # a window before the gap
    assert load_returns(out).dates == ("2026-01-02",)
    # ETH has no option at all: no vol column (not a gap); BTC missing one day's quotes is
    assert main(["returns", dsn, "--underlyings", "ETH", "--days", "2", "--out", out]) == 0
    assert not load_returns(out).vol_changes
    assert main(["returns", dsn, "--underlyings", "BTC", "--days", "1", "--to", "2026-01-02",
                 "--out", out]) == 0
    assert load_returns(out).vol_changes["BTC"].tolist() == pytest.approx([0.05])


def test_a_vol_gap_is_an_error(dsn: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    lines = [x for x in store() if not x.startswith(b'{"type":"quote","event_id":"q-02')]
    write_replay(dsn, [(r, f"hand.jsonl:{i + 1}") for i, r in enumerate(lines)], [])
    out = str(tmp_path / "r.csv")
    capsys.readouterr()
    assert main(["returns", dsn, "--underlyings", "BTC", "--days", "3", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "BTC: no option quote (ATM vol) on 1 day(s) of the window: 2026-01-02" in err
    assert "--no-vol" in err
    assert main(["returns", dsn, "--underlyings", "BTC", "--days", "3", "--no-vol",
                 "--out", out]) == 0
    assert main(["returns", dsn, "--underlyings", "SOL", "--days", "2", "--out", out]) == 2
    assert "no stored index event of SOL" in capsys.readouterr().err


def test_records_the_engine_rejected_are_no_close_and_no_vol(
    dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An index of price -5 and an option quote of mark_iv -0.1, the last of Jan 4, are
    stored (every input is) and were rejected by the engine (invalid_event). The builder
    read every decoded record, took them as the day's close and vol, and failed the
    whole command ("a stored event does not decode"); only accepted records count now."""
    bad = [rec("index", "i-bad", "2026-01-04T23:30:00Z", underlying="BTC", price=-5.0),
           rec("quote", "q-bad", "2026-01-04T21:00:00Z", instrument_id="A",
               underlying_price=99.0, mark_iv=-0.1)]
    events = tmp_path / "hand.jsonl"
    events.write_bytes(b"\n".join([*store(), *bad]) + b"\n")
    assert main(["replay", str(events), "--history", dsn, "--quiet"]) == 0
    assert "2 input record(s) rejected" in capsys.readouterr().err
    out = tmp_path / "r.csv"
    assert main(["returns", dsn, "--underlyings", "BTC", "--days", "3", "--out",
                 str(out)]) == 0, capsys.readouterr().err
    r = load_returns(out)
    assert r.dates == ("2026-01-02", "2026-01-03", "2026-01-04")
    want = [math.log(110 / 100), math.log(99 / 110), 0.0]
    assert r.log_returns["BTC"].tolist() == pytest.approx(want, rel=1e-15, abs=1e-15)
    assert r.vol_changes["BTC"][-1] == pytest.approx(0.0, abs=1e-15)  # A: 0.52 both days
