"""`greekstream replay FILE` on small files: what the summary counts, and a UTF-8 BOM."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from greekstream.core import guards
from greekstream.runtime.replay import read_records, replay
from tests.cli import run
from tests.unit import builders as b

CALL = "BTC-27MAR26-60000-C"


def market() -> list[bytes]:
    return [b.option(CALL, 60000), b.index("x0", 1, 61000),
            b.quote_opt("q0", 2, CALL, 61200, 0.62)]


def test_summary_counts_neither_duplicates_nor_rejections_nor_late_quotes_as_applied(
    tmp_path: Path,
) -> None:
    lines = [*market(), b.trade("t1", 4, CALL, "buy", 10), b.trade("t1", 4, CALL, "buy", 10),
             b.trade("t1", 5, CALL, "buy", 10), b.quote_opt("q-late", 1, CALL, 50000, 0.3),
             b.trade("bad", 6, "NO-SUCH", "buy", 1)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = replay(read_records(path))
    assert (result.applied, result.engine.duplicates, result.engine.late_quotes) == (5, 2, 1)
    code, _, err = run("replay", str(path))
    assert code == 0
    assert "replay: 5 events applied, 2 duplicates ignored, 1 late quotes ignored" in err, err


def test_a_utf8_bom_on_the_first_line_is_not_a_rejection(tmp_path: Path) -> None:
    lines = [*market(), b.trade("t1", 4, CALL, "buy", 10)]
    plain, with_bom = tmp_path / "plain.jsonl", tmp_path / "bom.jsonl"
    plain.write_bytes(b"\n".join(lines) + b"\n")
    with_bom.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    code, out, err = run("replay", str(with_bom))
    assert code == 0 and "rejected" not in err, err
    rows = orjson.loads(out)
    assert rows and rows == orjson.loads(run("replay", str(plain))[1])
    assert rows[0]["positions"] == 1


def test_a_time_flag_outside_the_engines_range_is_a_usage_error(tmp_path: Path) -> None:
    """--as-of past 2105-12-31T23:59:59.999999Z or before 1970 parsed, and the table's
    title (format_ts) overflowed past year 9999: a traceback. It is refused up front
    (exit 2, the range and a hint), before --out is created."""
    from greekstream.commands._common import parse_time_arg
    from greekstream.errors import UsageError

    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(market()) + b"\n")
    out = tmp_path / "out"
    for at in ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z",
               "0001-01-01T00:00:00+01:00", "2106-01-01T00:00:00Z",
               "1969-12-31T23:59:59.999999Z"):
        code, _, err = run("replay", str(path), "--as-of", at, "--format", "table",
                           "--out", str(out), "--quiet")
        assert code == 2, (at, err)
        assert "out of the range the engine accepts" in err and "hint: " in err, err
        assert not out.exists()
        with pytest.raises(UsageError, match="out of the range"):
            parse_time_arg(at, "--to")
    assert parse_time_arg("1970-01-01T00:00:00Z", "--from") == 0
    assert parse_time_arg("2105-12-31T23:59:59.999999Z", "--to") == guards.MAX_TS_US


def _events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([*market(), b.trade("t1", 4, CALL, "buy", 10)]) + b"\n")
    return path


def test_an_out_that_is_a_file_or_under_one_is_a_usage_error(tmp_path: Path) -> None:
    events, plain = _events(tmp_path), tmp_path / "plain"
    plain.write_bytes(b"keep")
    for out, reason in ((plain, "not a directory"), (plain / "sub", "Not a directory")):
        code, _, err = run("replay", str(events), "--out", str(out), "--quiet")
        assert code == 2, err
        assert f"{out}" in err and reason in err and "hint: " in err, err
    assert plain.read_bytes() == b"keep"


def test_an_output_file_name_taken_by_a_directory_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """exposures.jsonl a directory: IsADirectoryError with a traceback, after an earlier
    replay's files in --out were truncated. Now a UsageError, and nothing there changed."""
    events, out = _events(tmp_path), tmp_path / "out"
    assert run("replay", str(events), "--out", str(out), "--quiet")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "exposures.jsonl").unlink()
    (out / "exposures.jsonl").mkdir()
    code, _, err = run("replay", str(events), "--out", str(out), "--quiet")
    assert code == 2 and "exposures.jsonl" in err and "hint: " in err, err
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == {k: v for k, v in before.items() if k != "exposures.jsonl"}


def test_a_failing_write_is_a_usage_error_and_leaves_no_files_or_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write the system refuses mid-replay (here: a full disk) named the file and the
    reason only in a traceback; now a UsageError, and the directories --out made are gone."""
    import errno
    import io
    import os
    from typing import BinaryIO, cast

    from greekstream.commands.replay import OUTPUT_FILES, OutputFiles

    class FullDisk(io.BytesIO):
        def write(self, data: object) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def full_disk(self: OutputFiles, kind: str) -> BinaryIO:
        if kind != "pnl":
            return real_open(self, kind)
        (self.directory / OUTPUT_FILES[kind]).touch()
        self.handles[kind] = cast(BinaryIO, FullDisk())
        return self.handles[kind]

    real_open = OutputFiles._open
    monkeypatch.setattr(OutputFiles, "_open", full_disk)
    events, out = _events(tmp_path), tmp_path / "new" / "out"
    code, _, err = run("replay", str(events), "--out", str(out), "--quiet")
    assert code == 2, err
    assert "pnl.jsonl" in err and "No space left on device" in err and "hint: " in err, err
    assert not (tmp_path / "new").exists()


def test_a_line_too_long_to_be_a_record_is_rejected_without_being_held_whole(
    tmp_path: Path,
) -> None:
    """A file whose line never ends (a binary file, a dump without line breaks) is read in
    bounded memory, as a live input is: the first KEEP_BYTES of the line are enough to
    reject it, the rest is dropped as it is read, and the lines after it still count."""
    import tracemalloc

    from greekstream.core.events import MAX_RECORD_BYTES
    from greekstream.runtime.replay import KEEP_BYTES

    huge = b'{"type":"trade","pad":"' + b"x" * (64 << 20)  # 64 MiB, no line break yet
    exact = b" " * MAX_RECORD_BYTES  # at the limit: kept whole (blank, so skipped)
    lines = [*market(), huge, exact + b"\r", b.trade("t1", 4, CALL, "buy", 10)]
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"\n".join(lines))  # the last line without its line break
    tracemalloc.start()
    try:
        records = [(len(raw), raw[:24], source) for raw, source in read_records(path)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak:,} bytes held for a 64 MiB line"
    assert [source for _, _, source in records] == [
        "long.jsonl:1", "long.jsonl:2", "long.jsonl:3", "long.jsonl:4", "long.jsonl:6"]
    assert records[3][:2] == (KEEP_BYTES, huge[:24])
    result = replay(read_records(path))
    rejected = [o for o in result.outputs if o.type == "rejected"]
    assert [(r.reason, r.source) for r in rejected] == [("invalid_event", "long.jsonl:4")]
    assert f"is {KEEP_BYTES:,} bytes" in rejected[0].detail
    assert result.applied == 4  # the market and the trade after the long line
