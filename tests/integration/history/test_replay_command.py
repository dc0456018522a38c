"""`greekstream replay --history DSN` and `greekstream replay --from-history DSN` on real
chDB: the same outputs (files and printed exposures, byte for byte) as a replay of the
file, book and window filtering, and a clear error for each bad input.

A replay of the sample takes seconds here, so the file's own replay and one stored
history are shared by the module; every test runs the command itself (``main``).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli import run

from greekstream.cli import main
from greekstream.core.timeutil import parse_ts
from greekstream.history import connect
from greekstream.history.audit import in_range

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

AS_OF = "2026-03-02T01:17:30.5Z"


def ok(*args: str) -> str:
    code, out, err = run(*args)
    assert code == 0, err
    return out


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def lines(directory: Path) -> list[dict]:
    """Every output event written under ``directory``, by file."""
    return [json.loads(line) for name, body in files(directory).items()
            for line in body.decode().splitlines()]


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replay-out")


@pytest.fixture(scope="module")
def from_file(events_file: Path, out_dir: Path) -> str:
    """`replay EVENTS --out file/`: what it prints (the files are in out_dir/file)."""
    return ok("replay", str(events_file), "--out", str(out_dir / "file"), "--quiet")


@pytest.fixture(scope="module")
def from_file_as_of(events_file: Path) -> str:
    return ok("replay", str(events_file), "--as-of", AS_OF, "--quiet")


@pytest.fixture(scope="module")
def filled(chdb_dir: Path, events_file: Path, out_dir: Path) -> Iterator[tuple[str, str]]:
    """A history written by `replay EVENTS --history DSN --out to/`: (DSN, what it printed)."""
    dsn = f"chdb://{chdb_dir}?database=replay_command"
    printed = ok("replay", str(events_file), "--history", dsn, "--out", str(out_dir / "to"),
                 "--quiet")
    yield dsn, printed


def test_history_round_trip_gives_the_files_outputs(
    filled: tuple[str, str], from_file: str, from_file_as_of: str, out_dir: Path,
    events_file: Path,
) -> None:
    dsn, stored = filled
    again = ok("replay", "--from-history", dsn, "--out", str(out_dir / "from"), "--quiet")
    assert json.loads(from_file) and from_file == stored == again
    want = files(out_dir / "file")
    assert {"exposures.jsonl", "breaches.jsonl", "hedge_intents.jsonl",
            "rejected.jsonl", "risk_matrices.jsonl"} <= set(want)
    assert files(out_dir / "to") == want
    assert files(out_dir / "from") == want
    with connect(dsn) as history:
        counts = {t: history.rows(f"SELECT count() FROM {t} FINAL")[0][0]
                  for t in ("raw_events", "exposures", "risk_matrix")}
    assert counts == {
        "raw_events": sum(1 for line in events_file.read_bytes().splitlines() if line.strip()),
        "exposures": want["exposures.jsonl"].count(b"\n"),
        "risk_matrix": want["risk_matrices.jsonl"].count(b"\n"),
    }
    at_history = ok("replay", "--from-history", dsn, "--as-of", AS_OF, "--quiet")
    assert at_history == from_file_as_of and "desk-a" in at_history
    table = ok("replay", "--from-history", dsn, "--as-of", AS_OF, "--format", "table", "--quiet")
    assert table.startswith(f"exposures as of {AS_OF[:-1]}")
    exposure_rows = table.split("\n\n")[0].splitlines()[3:]  # the P&L table follows
    assert [r["book"] for r in json.loads(from_file_as_of)] == [
        line.split()[0] for line in exposure_rows]
    assert "\nP&L (USD) as of" in table


def test_history_with_as_of_stores_what_that_replay_applied(
    tmp_path: Path, dsn: str, events_file: Path, from_file_as_of: str
) -> None:
    printed = ok("replay", str(events_file), "--as-of", AS_OF, "--history", dsn,
                 "--out", str(tmp_path / "cut"), "--quiet")
    assert printed == from_file_as_of
    ok("replay", "--from-history", dsn, "--out", str(tmp_path / "back"), "--quiet")
    assert files(tmp_path / "back") == files(tmp_path / "cut")
    with connect(dsn) as history:
        latest = history.rows("SELECT toUnixTimestamp64Micro(max(ts)) FROM raw_events "
                              "WHERE decoded")[0][0]
    assert latest <= parse_ts(AS_OF)
    code, _, err = run("audit", dsn)
    assert code == 0 and "no divergence" in err, err


def test_book_filter(filled: tuple[str, str], from_file: str, out_dir: Path) -> None:
    everything = json.loads(from_file)
    assert {"desk-a", "desk-b"} <= {r["book"] for r in everything}
    printed = json.loads(ok("replay", "--from-history", filled[0], "--book", "desk-b",
                            "--out", str(out_dir / "desk-b"), "--quiet"))
    assert printed == [r for r in everything if r["book"] == "desk-b"]
    got = lines(out_dir / "desk-b")
    want = [o for o in lines(out_dir / "file") if o.get("book") == "desk-b"]
    assert want and [o for o in got if "book" in o] == want
    # outputs of no book are the market-wide ones: rejections and volatility regimes
    assert {o["type"] for o in got if "book" not in o} <= {"rejected", "regime"}


def test_window_keeps_outputs_in_range_with_state_from_the_start(
    filled: tuple[str, str], tmp_path: Path, events_file: Path
) -> None:
    t1, t2 = "2026-03-02T00:40:00Z", "2026-03-02T01:20:00Z"
    cut = ok("replay", str(events_file), "--as-of", t2, "--out", str(tmp_path / "cut"),
             "--quiet")
    window = ok("replay", "--from-history", filled[0], "--from", t1, "--to", t2,
                "--out", str(tmp_path / "window"), "--quiet")
    assert window == cut  # exposures as of the window's end
    lo, hi = parse_ts(t1), parse_ts(t2)
    want = [o for o in lines(tmp_path / "cut")
            if in_range(parse_ts(o["ts"]) if o.get("ts") else None, lo, hi)]
    got = lines(tmp_path / "window")
    assert got == want
    assert {o["type"] for o in got} >= {"exposure", "breach"}
    assert len(got) < len(lines(tmp_path / "cut"))
    # the window's first exposure counts positions traded before it: state came from the start
    first = next(o for o in got if o["type"] == "exposure")
    assert first["positions"] > 0


def test_help_shows_the_history_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["replay", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--history", "--from-history", "--book", "--from", "--to", "--as-of",
                 "--format", "--out"):
        assert flag in text
    assert "examples:" in text and "replay --from-history chdb://" in text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--book", "nobody"], "unknown book 'nobody'"),
        (["--from", "2026-03-02T02:00:00Z", "--to", "2026-03-02T01:00:00Z"],
         "inverted time range"),
        (["--as-of", "2020-01-01T00:00:00Z"], "as-of 2020-01-01T00:00:00Z is before history "
                                              "starts"),
        (["--to", "2020-01-01T00:00:00Z"], "--to 2020-01-01T00:00:00Z is before history starts"),
        (["--from", "2026-03-02T01:00:00Z", "--as-of", "2026-03-02T00:00:00Z"],
         "--as-of is before --from"),
        (["--to", "2026-03-02T01:00:00Z", "--as-of", "2026-03-02T02:00:00Z"],
         "--as-of is after --to"),
        (["--from", "yesterday"], "bad --from 'yesterday'"),
    ],
)
def test_from_history_errors_name_the_problem(
    tmp_path: Path, filled: tuple[str, str], args: list[str], message: str
) -> None:
    code, out, err = run("replay", "--from-history", filled[0], *args,
                         "--out", str(tmp_path / "o"))
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_and_unreachable_stores_name_the_problem(
    tmp_path: Path, chdb_dir: Path, events_file: Path, filled: tuple[str, str]
) -> None:
    # (``filled``: chdb_dir holds a store, so a database missing from it is that error,
    # whichever test of the module runs first)
    ev = str(events_file)
    closed = f"http://127.0.0.1:{_closed_port()}/greekstream"
    cases = [
        (["replay", "--from-history", "clickhouse:/nowhere"], "malformed ClickHouse DSN"),
        (["replay", ev, "--history", "chdb://relative/dir"], "malformed chDB DSN"),
        (["replay", "--from-history", closed], "cannot connect to ClickHouse at 127.0.0.1:"),
        (["replay", ev, "--history", closed], "cannot connect to ClickHouse at 127.0.0.1:"),
        (["replay", "--from-history", f"chdb://{chdb_dir}?database=never_written"],
         "database 'never_written' does not exist"),
        (["replay", "--from-history", f"chdb://{chdb_dir}?database=t0", ev],
         "either an events file or --from-history"),
        (["replay"], "nothing to replay"),
        (["replay", ev, "--book", "desk-a"], "--book only apply with --from-history"),
        (["replay", "--from-history", closed, "--history", closed], "cannot be combined"),
        (["replay", str(tmp_path / "missing.jsonl"), "--history", closed],
         "no such events file"),
    ]
    for args, message in cases:
        code, out, err = run(*args, "--out", str(tmp_path / "o"))
        assert (code, out) == (2, ""), args
        assert message in err and "Traceback" not in err, (args, err)
        assert not (tmp_path / "o").exists(), args
