"""`greekstream demo` end to end on a small day (the Kafka tests' profile): engine →
embedded ClickHouse → the summary a desk reads, scenario risk, heatmap, one cascade."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from greekstream.core.timeutil import format_ts, parse_ts
from greekstream.sample.generate import write_sample

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _demo(events: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "greekstream.cli", "demo", "--events", str(events),
         "--out", str(out)], capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("demo")
    events = folder / "day.jsonl"
    write_sample(events, "kafka-test", seed=5, show_progress=False)
    # like the full demo day, the input ends at the next midnight (the day's funding there)
    last = orjson.loads(events.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1])["ts"]
    midnight = format_ts(parse_ts(last[:10] + "T00:00:00Z") + 86_400_000_000)
    with events.open("ab") as f:
        f.write(orjson.dumps({"type": "tick", "event_id": "eod", "ts": midnight}) + b"\n")
    out = folder / "out"
    return events, out, _demo(events, out)


def test_demo_summarises_exposures_risk_onchain_and_a_cascade(
    first_run: tuple[Path, Path, subprocess.CompletedProcess[str]]
) -> None:
    _events, out, done = first_run
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout
    for heading in ("Exposures as of", "Breaches:", "Hedge intents:", "Scenario risk",
                    "On-chain positions:", "cascade, depth", "P&L per book for the day",
                    "P&L explain (USD)"):
        assert heading in text, f"missing {heading!r} in:\n{text[-3000:]}"
    loans = int(re.search(r"On-chain positions: ([\d,]+) loans", text)[1].replace(",", ""))
    assert loans > 0
    assert re.search(r"^\s+1\s+[\d,.]+\s+\d+", text, re.M), "the cascade liquidates in round 1"
    assert (out / "risk_heatmap.png").stat().st_size > 10_000
    assert (out / "exposures.jsonl").stat().st_size > 0
    assert (out / "risk_matrices.jsonl").stat().st_size > 0
    assert (out / "pnl.jsonl").stat().st_size > 0
    pnl_table = text.split("P&L per book for the day")[1].split("\n\n")[0]
    assert "mm-1" in pnl_table and "total_usd" in pnl_table
    assert "stored in ClickHouse" in done.stderr
    # VaR and ES per book from a year of sample history, and the distribution picture
    assert "Historical VaR and expected shortfall" in text
    assert re.search(r"^\s+desk-a\s+[\d,]+\s+[\d,]+\s+\d{4}-\d\d-\d\d", text, re.M), text[-2000:]
    assert (out / "var_distribution.png").stat().st_size > 10_000
    assert (out / "returns.csv").read_text().startswith("date,BTC,BTC_vol,ETH,ETH_vol,WBTC\n")
    # the day's regime changes, the intents with their status, a signed and verified report
    assert re.search(r"Volatility regimes .*: [1-9]\d* changes", text)
    assert re.search(r"Hedge intents: [\d,]+ \(.*\d+ (expired|filled)", text)
    assert re.search(r"verified: OK", text), text[-3000:]
    report = next(out.glob("report-*.json"))
    # the report is the replayed day's, with its breaches and intents, not the next day's
    signed = orjson.loads(report.read_bytes())["report"]
    first_day = orjson.loads(_events.read_bytes().split(b"\n", 1)[0])["ts"][:10]
    assert report.name == f"report-{first_day}.json", report.name
    books = signed["books"].values()
    assert sum(len(b["breaches_opened"]) for b in books) > 0, signed
    assert sum(len(b["intents"]) for b in books) > 0, signed
    check = subprocess.run(
        [sys.executable, "-m", "greekstream.cli", "verify", str(report), "--pubkey",
         str(out / "report-key.pub"), "--dsn", f"chdb://{(out / 'chdb').resolve()}",
         "--returns", str(out / "returns.csv")],  # as the demo's own hint says
        capture_output=True, text=True, timeout=600, check=False)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]


def test_a_rerun_rebuilds_the_demos_own_store(
    first_run: tuple[Path, Path, subprocess.CompletedProcess[str]]
) -> None:
    """A store left by an earlier run (here: one whose chain another version forked, as a
    store written before a change of an output's shape holds) does not fail the next run:
    the demo's own store is rebuilt, and the run verifies its report."""
    from greekstream.history import connect

    events, out, done = first_run
    assert done.returncode == 0, done.stderr[-3000:]
    with connect(f"chdb://{(out / 'chdb').resolve()}") as history:
        history.command(  # a second record after the same link: the chain forks
            "INSERT INTO output_chain SELECT concat(event_id, '-v0'), type, ts, has_ts, book, "
            "prev, concat('0', substring(hash, 2)), record, seq FROM output_chain "
            "WHERE type = 'risk_matrix' ORDER BY ts, seq LIMIT 1")
    again = _demo(events, out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "rebuilding the demo's store" in again.stderr
    assert re.search(r"verified: OK", again.stdout), again.stdout[-3000:]
