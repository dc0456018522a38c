"""Hash-chained outputs, the signed end-of-day report and `greekstream verify` (real chDB).

Each test tampers with one thing and checks that `verify` exits 1 and names it:
a stored output value, a stored input together with its outputs (which `audit` does
not see), the report file, the signature.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from tests.unit import builders as b

from greekstream.cli import main
from greekstream.core.chain import GENESIS, canonical_json, record_hash
from greekstream.core.events import encode
from greekstream.history import connect, write_replay
from greekstream.history.audit import audit
from greekstream.history.migrate import migrate
from greekstream.history.writer import HistoryWriter
from greekstream.runtime.replay import read_records, replay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
DAY = "2026-03-02"


@pytest.fixture(scope="module")
def small_events(tmp_path_factory: pytest.TempPathFactory, events_file: Path) -> Path:
    """The first 1,500 records of the sample (trades, breaches, intents, rejections)."""
    lines = events_file.read_bytes().splitlines()
    head = [ln for ln in lines if b'"bad-' in ln or b"[1, 2, 3]" in ln] + lines[:1500]
    path = tmp_path_factory.mktemp("small") / "events.jsonl"
    path.write_bytes(b"\n".join(head) + b"\n")
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "report-key"
    assert main(["keygen", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def signed_store(chdb_dir: Path, small_events: Path, keys: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The small events stored and the day's signed report, shared by the tests that
    tamper with neither the store nor this report (a test altering the report alters a
    copy)."""
    dsn = f"chdb://{chdb_dir}?database=report_verify"  # no other test's (those are t<n>)
    _store(dsn, small_events)
    return dsn, _signed(dsn, keys, tmp_path_factory.mktemp("signed"))


def _copy(report: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(report, tmp_path / report.name))


def _signed(dsn: str, keys: Path, tmp_path: Path) -> Path:
    out = tmp_path / "report.json"
    assert main(["report", dsn, "--date", DAY, "--key", str(keys), "--out", str(out)]) == 0
    return out


def _verify(report: Path, keys: Path, dsn: str | None, capsys: pytest.CaptureFixture[str]
            ) -> tuple[int, str]:
    capsys.readouterr()
    argv = ["verify", str(report), "--pubkey", f"{keys}.pub"] + (["--dsn", dsn] if dsn else [])
    code = main(argv)
    return code, capsys.readouterr().out


def _store(dsn: str, events: Path) -> list:
    result = replay(read_records(events))
    write_replay(dsn, read_records(events), result.outputs)
    return result.outputs


def test_every_output_is_chained_per_book_and_replay_reproduces_the_hashes(
    small_events: Path,
) -> None:
    first = replay(read_records(small_events)).outputs
    again = replay(read_records(small_events)).outputs
    assert [encode(o) for o in first] == [encode(o) for o in again]
    heads: dict[str, str] = {}
    kinds = set()
    for out in first:
        fields = orjson.loads(encode(out))
        kinds.add(fields["type"])
        book = fields.get("book") or ""
        if book:  # market-wide records chain per source stream (checked below)
            assert fields["prev"] == heads.get(book, GENESIS)
        assert fields["hash"] == record_hash(fields["prev"], canonical_json(fields))
        heads[book] = fields["hash"]
    assert {"exposure", "breach", "hedge_intent", "rejected"} <= kinds


def test_untouched_history_verifies(
    signed_store: tuple[str, Path], keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn, report = signed_store
    doc = orjson.loads(report.read_bytes())["report"]
    assert doc["date"] == DAY and doc["books"]
    for book, entry in doc["books"].items():
        assert len(entry["chain"]["head"]) == 64, book
        assert entry["exposures"], book
    assert any(e["intents"] for e in doc["books"].values())
    assert any(e["breaches_opened"] for e in doc["books"].values())
    assert doc["market_chains"], "the bad records' rejections chain under book ''"
    assert _verify(report, keys, None, capsys)[0] == 0
    code, out = _verify(report, keys, dsn, capsys)
    assert code == 0, out
    assert out.startswith("OK")


def test_a_tampered_output_value_is_named(
    dsn: str, small_events: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = _store(dsn, small_events)
    report = _signed(dsn, keys, tmp_path)
    victim = [o for o in outputs if o.type == "exposure"][200]
    with connect(dsn) as history:
        history.command(
            "ALTER TABLE exposures UPDATE delta = delta + 1 WHERE event_id = "
            f"'{victim.event_id}' SETTINGS mutations_sync = 2")
    code, out = _verify(report, keys, dsn, capsys)
    assert code == 1
    assert victim.event_id in out and "delta" in out


def test_a_tampered_chain_record_is_named(
    dsn: str, small_events: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = _store(dsn, small_events)
    report = _signed(dsn, keys, tmp_path)
    victim = next(o for o in outputs if o.type == "breach" and o.state == "open")
    with connect(dsn) as history:
        history.command(
            "ALTER TABLE output_chain UPDATE record = replaceOne(record, '\"open\"', "
            f"'\"cleared\"') WHERE event_id = '{victim.event_id}' SETTINGS mutations_sync = 2")
    code, out = _verify(report, keys, dsn, capsys)
    assert code == 1
    first = out.splitlines()[0]
    assert victim.event_id in first and "altered" in first


def _tampered_input(events: Path, tmp_path: Path) -> tuple[Path, str]:
    """The events with one trade's quantity doubled; returns (file, that trade's id)."""
    lines = events.read_bytes().splitlines()
    i = next(i for i, ln in enumerate(lines) if b'"type":"trade"' in ln and i > 500)
    obj = orjson.loads(lines[i])
    obj["quantity"] = obj["quantity"] * 2
    lines[i] = orjson.dumps(obj)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / events.name  # same name: sources (FILE:LINE) stay the same
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, str(obj["event_id"])


def test_an_input_rewritten_with_its_outputs_is_named(
    dsn: str, small_events: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Inputs and typed output tables rewritten consistently (audit sees nothing): the
    stored chain no longer matches the chain recomputed from the stored inputs."""
    original = replay(read_records(small_events)).outputs
    report_dsn = dsn
    write_replay(report_dsn, read_records(small_events), original)
    report = _signed(report_dsn, keys, tmp_path)
    forged_file, trade_id = _tampered_input(small_events, tmp_path / "forged")
    forged = replay(read_records(forged_file)).outputs
    forged_dsn = dsn + "forged"
    with connect(forged_dsn, create=True) as history:
        migrate(history)
        writer = HistoryWriter(history)
        for raw, source in read_records(forged_file):
            writer.add_record(raw, source)
        for seq, out in enumerate(forged):  # typed tables from the forged replay ...
            writer.add_output(out, seq)
        writer.buffers["output_chain"].__init__(len(writer.buffers["output_chain"].columns))
        original_writer = HistoryWriter(history)  # ... the chain as originally produced
        for seq, out in enumerate(original):
            original_writer._chain(out.__dict__, encode(out), seq)
        writer.flush()
        original_writer.flush()
        assert audit(history) == [], "audit cannot see a consistent rewrite"
    first_changed = next(f for o, f in zip(original, forged, strict=False)
                         if encode(o) != encode(f))
    assert first_changed.caused_by == trade_id
    code, out = _verify(report, keys, forged_dsn, capsys)
    assert code == 1
    assert out.splitlines()[0].split()[:3] == ["FAIL", "hash", first_changed.type]
    assert first_changed.event_id in out.splitlines()[0]


def test_a_full_rewrite_is_caught_by_the_signed_chain_head(
    dsn: str, small_events: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Inputs, outputs and chain all rewritten (the chain recomputed): only the signed
    report's chain head and hourly marks can tell."""
    _store(dsn, small_events)
    report = _signed(dsn, keys, tmp_path)
    forged_file, trade_id = _tampered_input(small_events, tmp_path / "forged")
    forged_dsn = dsn + "full"
    forged = _store(forged_dsn, forged_file)
    book = next(o.book for o in forged if getattr(o, "caused_by", "") == trade_id)
    code, out = _verify(report, keys, forged_dsn, capsys)
    assert code == 1
    line = next(ln for ln in out.splitlines() if ln.startswith("FAIL chain"))
    assert f"book {book}" in line and "first divergence in hour" in line


def test_a_tampered_report_file_is_named(
    signed_store: tuple[str, Path], keys: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    dsn, signed = signed_store
    report = _copy(signed, tmp_path)
    doc = orjson.loads(report.read_bytes())
    book = sorted(doc["report"]["books"])[0]
    doc["report"]["books"][book]["exposures"][0]["delta"] += 1.0
    report.write_bytes(orjson.dumps(doc))
    code, out = _verify(report, keys, None, capsys)
    assert code == 1 and "FAIL signature" in out
    code, out = _verify(report, keys, dsn, capsys)
    assert code == 1
    assert f"books.{book}.exposures[0].delta" in out


def test_a_tampered_signature_is_named(
    signed_store: tuple[str, Path], keys: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    dsn, signed = signed_store
    report = _copy(signed, tmp_path)
    doc = orjson.loads(report.read_bytes())
    value = doc["signature"]["value"]
    doc["signature"]["value"] = ("0" if value[0] != "0" else "1") + value[1:]
    report.write_bytes(orjson.dumps(doc))
    code, out = _verify(report, keys, dsn, capsys)
    assert code == 1
    assert out.splitlines() == [out.splitlines()[0]]
    assert "FAIL signature" in out and "the signature itself was altered" in out


def test_another_key_does_not_verify(
    signed_store: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _dsn, report = signed_store
    other = tmp_path / "other"
    assert main(["keygen", str(other)]) == 0
    capsys.readouterr()
    assert main(["verify", str(report), "--pubkey", f"{other}.pub"]) == 1
    assert "FAIL signature" in capsys.readouterr().out


def test_inputs_of_the_day_stored_after_the_report_was_signed_are_named(
    dsn: str, small_events: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trade of a new book and a bad record dated on the report's day, stored after the
    report was signed: history now holds that day's chain of a book the report has none
    of, and a rejection chain the report does not list. `verify --dsn` compared only the
    books the report lists, so it said OK; it names both now."""
    _store(dsn, small_events)
    report = _signed(dsn, keys, tmp_path)
    assert _verify(report, keys, dsn, capsys)[0] == 0
    lines = small_events.read_bytes().splitlines()
    good = [orjson.loads(ln) for ln in lines
            if ln.startswith(b'{"type":') and b'"bad-' not in ln]
    trade = next(r for r in good if r["type"] == "trade")
    last = max(r["ts"] for r in good)
    late = tmp_path / "late.jsonl"
    late.write_bytes(orjson.dumps({**trade, "event_id": "late-1", "book": "desk-late",
                                   "ts": last}) + b"\n" + orjson.dumps(
        {**trade, "event_id": "late-bad", "instrument_id": "NO-SUCH", "ts": last}) + b"\n")
    assert main(["replay", str(late), "--history", dsn, "--quiet"]) == 0
    code, out = _verify(report, keys, dsn, capsys)
    assert code == 1, out
    assert "FAIL chain      book desk-late" in out and "has no chain of this book" in out
    assert "FAIL chain      market chain from " in out, out


@pytest.mark.parametrize(("path", "value", "named"), [
    (("books",), [], "FAIL report     books  not an object of books"),
    (("date",), "garbage", "FAIL report     date  'garbage' is not a UTC date"),
    (("books", 0, "chain"), "x", "its chain is not an object"),
    (("books", 0, "chain", "marks"), ["00"], "FAIL chain      book"),
])
def test_a_report_altered_out_of_shape_is_a_finding_not_a_traceback(
    signed_store: tuple[str, Path], keys: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], path: tuple[object, ...], value: object, named: str,
) -> None:
    """A report altered so that `books` is a list or a book's chain a string: `verify
    --dsn` died with an AttributeError traceback (exit 1 of an uncaught exception, no
    FAIL line); a date that is not one was "error: bad date ... hint: --date" (exit 2,
    and verify has no --date). Each is a FAIL line now, after FAIL signature."""
    dsn, signed = signed_store
    report = _copy(signed, tmp_path)
    doc = orjson.loads(report.read_bytes())
    node = doc["report"]
    for key in path[:-1]:
        node = node[sorted(node)[key]] if isinstance(key, int) else node[key]
    node[path[-1]] = value
    if path[-1] == "marks":
        node["head"] = "0" * 64
    report.write_bytes(orjson.dumps(doc))
    code, out = _verify(report, keys, dsn, capsys)
    assert code == 1, out
    assert out.startswith("FAIL signature") and named in out, out


def test_a_days_report_does_not_depend_on_what_history_holds_after_that_day(
    dsn: str, tmp_path: Path,
) -> None:
    """An intent emitted at 23:59:50 that expired at 00:00:20 the next day: built at the
    end of the day the report said `pending`, built once the next day's data was stored
    `expired` with a closed_at of the next day (intent_status was read whatever its
    ts), so the same day's report changed after it was signed. As of the end of D now."""
    from greekstream.history.report import build_report

    perp = "BTC-PERPETUAL"
    lines = [b.perp(perp, "linear", 1.0), b.index("x0", 1, 60000),
             b.quote_mark("q0", 2, perp, 60000),
             b.limits("l0", 3, hedge_instrument=perp, hedge_band=0.5),
             b.trade("t1", 86_390, perp, "buy", 5)]  # 2026-03-01T23:59:50Z
    day, later = tmp_path / "day.jsonl", tmp_path / "next.jsonl"
    day.write_bytes(b"\n".join(lines) + b"\n")
    later.write_bytes(b.quote_mark("q1", 86_460, perp, 60010) + b"\n")  # 00:01 next day
    assert main(["replay", str(day), "--history", dsn, "--quiet"]) == 0
    with connect(dsn) as history:
        at_end_of_day = build_report(history, "2026-03-01")
    assert main(["replay", str(later), "--history", dsn, "--quiet"]) == 0
    with connect(dsn) as history:
        states = history.rows("SELECT state, toString(ts) FROM intent_status")
        next_day = build_report(history, "2026-03-01")
    assert states == [("expired", "2026-03-02 00:00:20.000000")]
    intents = next_day["books"]["desk-a"]["intents"]
    assert [(i["status"], i["closed_at"]) for i in intents] == [("pending", None)]
    assert next_day == at_end_of_day


def test_an_undated_rejection_stored_after_the_report_was_signed_is_not_of_that_day(
    dsn: str, small_events: Path, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line that is not JSON, stored after the report was signed: its rejection has no
    ts, which counts at every end of day, so the market chains compared as sets said
    "history holds inputs the report did not" of a record of no day. A market chain is
    named only for records after the signed head dated by the end of the day, or a
    signed head no longer in history."""
    _store(dsn, small_events)
    report = _signed(dsn, keys, tmp_path)
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b'{"type":"trade"\n')
    assert main(["replay", str(junk), "--history", dsn, "--quiet"]) == 0
    code, out = _verify(report, keys, dsn, capsys)
    assert code == 0 and out.startswith("OK"), out
    doc = orjson.loads(report.read_bytes())  # a signed head no longer in history
    doc["report"]["market_chains"][0]["head"] = "f" * 64
    forged = tmp_path / "forged.json"
    forged.write_bytes(orjson.dumps(doc))
    code, out = _verify(forged, keys, dsn, capsys)
    assert code == 1 and f"head {'f' * 64} is not in any chain recomputed" in out, out
