"""The deterministic sample-data generators (greekstream.sample)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest

from greekstream.core.events import DecodeError, Instrument, decode_event
from greekstream.runtime.replay import read_records, replay
from greekstream.sample import sample_path, write_sample
from greekstream.sample.__main__ import main
from greekstream.sample.generate import build, lines, profile
from greekstream.sample.loans import loan_population

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "kafka-test.jsonl"
    write_sample(path, "kafka-test", seed=7, show_progress=False)
    return path


def _events(path: Path) -> list:
    return [decode_event(line) for line in path.read_bytes().splitlines()]


def test_same_seed_same_bytes_other_seed_other_bytes(small: Path, tmp_path: Path) -> None:
    again, other = tmp_path / "again.jsonl", tmp_path / "other.jsonl"
    write_sample(again, "kafka-test", seed=7, show_progress=False)
    write_sample(other, "kafka-test", seed=8, show_progress=False)
    assert again.read_bytes() == small.read_bytes()
    assert other.read_bytes() != small.read_bytes()


def test_every_line_decodes_in_time_order_with_unique_ids(small: Path) -> None:
    events = _events(small)
    ts = np.array([e.ts for e in events])
    assert np.all(np.diff(ts) >= 0)
    assert len({e.event_id for e in events}) == len(events)
    assert all(small.read_text().splitlines()[i].endswith("}") for i in (0, -1))


def test_small_profile_has_every_kind_of_event(small: Path) -> None:
    counts = Counter(e.type for e in _events(small))
    for kind in ("instrument", "quote", "index", "trade", "collateral", "reorg", "limits",
                 "margin", "loan", "lp_position"):
        assert counts[kind] > 0, kind
    assert 4_000 <= sum(counts.values()) <= 7_000
    assert counts["reorg"] == 1


def test_instruments_come_first_and_cover_every_reference(small: Path) -> None:
    events = _events(small)
    defined = {e.instrument_id for e in events if isinstance(e, Instrument)}
    first_other = next(i for i, e in enumerate(events) if e.type != "instrument")
    assert all(e.type != "instrument" for e in events[first_other:])
    used = {e.instrument_id for e in events if e.type in ("quote", "trade")}
    assert used <= defined
    kinds = Counter((e.kind, e.settlement) for e in events if isinstance(e, Instrument))
    assert kinds[("option", "inverse")] and kinds[("option", "linear")]
    assert kinds[("perpetual", "inverse")] and kinds[("perpetual", "linear")]
    assert kinds[("future", "inverse")]


def test_reorg_retracts_exactly_the_planted_events(small: Path) -> None:
    events = _events(small)
    reorg = next(e for e in events if e.type == "reorg")
    before = [e for e in events if e.ts < reorg.ts and getattr(e, "chain", None) == reorg.chain
              and e.type != "reorg"]
    orphaned = [e for e in before if e.block_number >= reorg.from_block]
    assert Counter(e.type for e in orphaned) == {"collateral": 2, "loan": 1}


def test_engine_accepts_the_small_profile_and_reacts(small: Path) -> None:
    result = replay(read_records(small))
    kinds = Counter(o.type for o in result.outputs)
    assert kinds["rejected"] == 0
    assert kinds["breach"] > 0 and kinds["hedge_intent"] > 0 and kinds["exposure"] > 0


def test_option_quotes_show_skew_and_term_structure(small: Path) -> None:
    events = _events(small)
    defs = {e.instrument_id: e for e in events if isinstance(e, Instrument)}
    opening = [e for e in events if e.type == "quote" and e.ts == events[0].ts and e.mark_iv]
    btc = [(defs[q.instrument_id], q) for q in opening if q.instrument_id.startswith("BTC-")]
    by_expiry: dict[int, list[tuple[float, float]]] = {}
    for d, q in btc:
        by_expiry.setdefault(d.expiry, []).append((np.log(d.strike / q.underlying_price),
                                                   q.mark_iv))
    atm = []
    for expiry in sorted(by_expiry):
        strikes = {}
        for k, iv in by_expiry[expiry]:
            strikes.setdefault(k, []).append(iv)
        pts = np.array(sorted((k, float(np.mean(v))) for k, v in strikes.items()))
        assert pts[0, 1] > pts[-1, 1], "puts (low strikes) richer than calls"
        near = pts[np.argsort(np.abs(pts[:, 0]))[:3]]  # the three strikes around the forward
        atm.append(np.polyval(np.polyfit(near[:, 0], near[:, 1], 2), 0.0))
    assert len(atm) == 3 and atm[-1] > atm[0] + 0.005, "upward-sloping ATM term structure"


def test_bench_mix_scaled_down(tmp_path: Path) -> None:
    path = tmp_path / "bench.jsonl"
    n = write_sample(path, "bench", events=20_000, show_progress=False)
    assert n == 20_000
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    share = {k: v / n for k, v in Counter(r["type"] for r in rows).items()}
    assert 0.67 <= share["quote"] <= 0.73
    assert 0.22 <= share["trade"] <= 0.28
    assert set(share) == {"instrument", "quote", "trade", "index", "collateral", "limits"}
    assert len({r["book"] for r in rows if r["type"] == "trade"}) == 50
    assert {r["underlying"] for r in rows if r["type"] == "index"} == {"BTC", "ETH"}
    assert rows[0]["type"] == "instrument"


def test_full_bench_profile_has_about_2000_instruments() -> None:
    prof = profile("bench")
    assert prof.n_quotes + prof.n_trades >= 950_000
    assert 0.24 <= prof.n_trades / 1_000_000 <= 0.27


def test_with_bad_adds_two_undecodable_records_an_unknown_instrument_and_a_duplicate() -> None:
    out = list(lines(build(profile("kafka-test"), 7), "t", with_bad=True))
    assert len(out) == len(list(lines(build(profile("kafka-test"), 7), "t"))) + 4
    failures, ids = 0, Counter()
    for line in out:
        try:
            ids[decode_event(line).event_id] += 1
        except DecodeError:
            failures += 1
    assert failures == 2
    assert [k for k, v in ids.items() if v > 1] and max(ids.values()) == 2
    assert ids["bad-instrument"] == 1


def test_health_factors_are_spread_as_documented() -> None:
    pop = loan_population(20_000, "ETH", seed=3)
    hf = pop.health_factor()
    assert hf.min() > 1.0
    assert 1.45 <= float(np.median(hf)) <= 1.8
    assert 0.05 <= float((hf < 1.1).mean()) <= 0.10
    assert float(((hf >= 1.1) & (hf <= 3.0)).mean()) >= 0.8
    usd = np.sort(pop.collateral_amount * pop.price)[::-1]
    assert usd[: len(usd) // 100].sum() / usd.sum() > 0.15, "heavy-tailed sizes"
    assert set(pop.protocol) == {"aave-v3", "compound-v3", "spark"}
    assert np.all((pop.liquidation_threshold >= 0.75) & (pop.liquidation_threshold <= 0.86))


def test_loans_cli_writes_replayable_loans(tmp_path: Path) -> None:
    path = tmp_path / "loans.jsonl"
    assert main(["loans", "--count", "300", "--asset", "WBTC", "--out", str(path)]) == 0
    events = _events(path)
    loans = [e for e in events if e.type == "loan"]
    assert len(loans) == 300 and events[0].type == "index"
    result = replay(read_records(path))
    assert not [o for o in result.outputs if o.type == "rejected"]


def test_cli_rejects_with_bad_outside_demo(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--profile", "bench", "--with-bad", "--out", str(tmp_path / "x.jsonl")])


def test_sample_path_generates_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREEKSTREAM_CACHE", str(tmp_path))
    first = sample_path("kafka-test")
    stamp = first.stat().st_mtime_ns
    assert first.parent == tmp_path and first.stat().st_size > 0
    assert sample_path("kafka-test") == first
    assert first.stat().st_mtime_ns == stamp


def test_the_cache_key_covers_the_pricer_and_time_formatting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached sample is keyed by the code that makes its bytes: a quote's price comes
    from core.greeks, its ts from core.timeutil, so a change there is a new file, not
    the old one served (the key hashed sample/*.py only)."""
    import greekstream.sample as sample

    sources = {p.relative_to(p.parents[1]).as_posix() for p in sample.code_sources()}
    assert {"core/greeks.py", "core/timeutil.py", "sample/streams.py"} <= sources
    copies = {}
    for p in sample.code_sources():
        copies[p] = tmp_path / p.relative_to(p.parents[1]).as_posix().replace("/", "_")
        copies[p].write_bytes(p.read_bytes())
    monkeypatch.setattr(sample, "code_sources", lambda: sorted(copies.values()))
    before = sample._code_version()
    pricer = next(c for p, c in copies.items() if p.name == "greeks.py")
    pricer.write_bytes(pricer.read_bytes() + b"\n# a changed pricer\n")
    assert sample._code_version() != before


def test_greekstream_sample_writes_the_market_profile(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`greekstream sample --profile market` (the bench's live stream) writes the bytes of
    `python -m greekstream.sample --profile market`; --events stays bench/market only."""
    from greekstream.cli import main as cli

    ours, module = tmp_path / "cli.jsonl", tmp_path / "module.jsonl"
    assert cli(["sample", "--profile", "market", "--events", "10000", "--quiet",
                "--out", str(ours)]) == 0
    assert main(["--profile", "market", "--events", "10000", "--out", str(module)]) == 0
    assert ours.read_bytes() == module.read_bytes()
    assert len(ours.read_bytes().splitlines()) >= 10_000
    capsys.readouterr()
    assert cli(["sample", "--profile", "small", "--events", "20000", "--out", str(ours)]) == 2
    assert "--events is for --profile bench or market" in capsys.readouterr().err


def test_greekstream_sample_refuses_bad_flags_before_writing(tmp_path: Path) -> None:
    """A negative --seed (numpy's ValueError), --out "" or "." (an empty file name) were
    tracebacks; a --count or --events of 1e14 ran out of memory or divided by zero. Each
    is a UsageError with a hint (a file name too long too), and nothing is written."""
    from tests.cli import run

    out = str(tmp_path / "s.jsonl")
    for args, says in (
        (["--seed", "-1", "--out", out], "--seed -1 is negative"),
        (["--profile", "loans", "--seed", "-3", "--out", out], "--seed -3 is negative"),
        (["--profile", "returns", "--seed", "-1", "--out", out], "--seed -1 is negative"),
        (["--out", ""], "names no file"),
        (["--out", "."], "names no file"),
        (["--profile", "loans", "--out", ""], "names no file"),
        (["--out", str(tmp_path)], "is a directory"),
        (["--out", str(tmp_path / ("k" * 300))], "File name too long"),
        (["--profile", "loans", "--count", "1000001", "--out", out],
         "--count 1,000,001 is out of range"),
        (["--profile", "loans", "--count", "100000000000000", "--out", out], "out of range"),
        (["--profile", "bench", "--events", "10000001", "--out", out], "too many"),
        (["--profile", "market", "--events", "100000000000000", "--out", out], "too many"),
    ):
        code, _, err = run("sample", "--quiet", *args)
        assert code == 2, (args, err)
        assert says in err and "hint: " in err, (args, err)
    assert list(tmp_path.iterdir()) == []
    from greekstream.sample import MAX_EVENTS, MAX_LOANS

    assert MAX_EVENTS >= 1_000_000 and MAX_LOANS >= 100_000  # the bench's runs stay valid


@pytest.mark.parametrize("argv", [
    ["--seed", "-1"],  # numpy: "Seed must be between 0 and 2**32 - 1", a traceback
    ["loans", "--seed", "-3"],
    ["history", "--seed", "-1"],
    ["loans", "--count", "2000000"],
    ["--profile", "market", "--events", "20000000"],
    ["history", "--days", "99999999"],
])
def test_python_m_sample_holds_the_bounds_of_greekstream_sample(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m greekstream.sample` (bench/ runs it) refuses what `greekstream sample`
    refuses, with a usage error and no file."""
    out = tmp_path / "x.jsonl"
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--out", str(out)])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_sample_write_that_fails_leaves_no_temporary_file(
    failure: BaseException, tmp_path: Path,
) -> None:
    """atomic_write wrote .NAME.PID.tmp and renamed it; a write that failed (a full disk,
    Ctrl-C) left the temporary file next to the target, one per attempt."""
    from greekstream.sample.writer import atomic_write

    def lines() -> Iterator[bytes]:
        yield b'{"a": 1}'
        raise failure

    with pytest.raises(type(failure)):
        atomic_write(tmp_path / "x.jsonl", lines(), 2, "sample", False)
    assert list(tmp_path.iterdir()) == []
