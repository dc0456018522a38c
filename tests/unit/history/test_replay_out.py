"""`greekstream replay --out DIR`: a file named as an output is always a whole replay's,
and a replay that does not finish leaves an earlier replay's files as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from greekstream.commands import replay as command
from tests.cli import run
from tests.unit import builders as b

CALL = "BTC-27MAR26-60000-C"


def _events(tmp_path: Path, name: str = "events.jsonl", trades: int = 3) -> Path:
    path = tmp_path / name
    lines = [b.option(CALL, 60000), b.index("x0", 1, 61000),
             b.quote_opt("q0", 2, CALL, 61200, 0.62),
             *(b.trade(f"t{i}", 4 + i, CALL, "buy", 10) for i in range(trades))]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _interrupted_after(monkeypatch: pytest.MonkeyPatch, n: int,
                       seen: list[dict[str, bytes]], out: Path) -> None:
    """The next replay stops (Ctrl-C) at its n-th output, after looking at ``out``."""
    real = command.replay

    def replay(*args: Any, **kwargs: Any) -> Any:
        sink = kwargs["on_output"]
        count = [0]

        def on_output(event: Any) -> None:
            sink(event)
            count[0] += 1
            if count[0] == n:
                seen.append(_files(out))
                raise KeyboardInterrupt
        kwargs["on_output"] = on_output
        return real(*args, **kwargs)

    monkeypatch.setattr(command, "replay", replay)


def test_an_interrupted_re_run_leaves_the_earlier_replays_files_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The files were opened under their names, truncated, at the start: while a re-run
    went (and after a kill) `exposures.jsonl` held the start of it, named as if whole,
    and a re-run that failed (Ctrl-C, a typo in --book) removed the earlier replay's
    files. Now a replay writes NAME.partial and renames at the end."""
    events, out = _events(tmp_path), tmp_path / "out"
    assert run("replay", str(events), "--out", str(out), "--quiet")[0] == 0
    before = _files(out)
    assert before["exposures.jsonl"]  # the earlier replay's outputs
    seen: list[dict[str, bytes]] = []
    _interrupted_after(monkeypatch, 2, seen, out)
    code, _, _ = run("replay", str(events), "--out", str(out), "--quiet")
    assert code == 130
    during = seen[0]
    assert {k: v for k, v in during.items() if not k.endswith(".partial")} == before
    assert "exposures.jsonl.partial" in during
    assert _files(out) == before


def test_a_finished_replay_replaces_every_file_and_removes_partial_and_stale_ones(
    tmp_path: Path,
) -> None:
    events, out = _events(tmp_path), tmp_path / "out"
    assert run("replay", str(events), "--out", str(out), "--quiet")[0] == 0
    expected = _files(out)
    (out / "exposures.jsonl.partial").write_bytes(b"half of a killed replay")
    (out / "risk_matrices.jsonl").write_bytes(b"{}\n")  # a type this replay does not emit
    (out / "risk_matrices.jsonl.partial").write_bytes(b"{}")
    (out / "breaches.jsonl").write_bytes(b"an earlier replay's\n")
    assert run("replay", str(events), "--out", str(out), "--quiet")[0] == 0
    assert _files(out) == expected
    assert not any(name.endswith(".partial") for name in expected)


def test_rejected_records_are_counted_on_stderr_even_quiet_and_strict_exits_1(
    tmp_path: Path,
) -> None:
    """`replay FILE --quiet` that rejected records said nothing at all (exit 0, no
    stderr): without --out they were dropped silently. Now one line counts them, and
    --strict makes it exit 1."""
    clean = _events(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(clean.read_bytes() + b'{"type":"trade"\n'
                    + b.trade("t-x", 9, "NO-SUCH", "buy", 1) + b"\n")
    code, out, err = run("replay", str(bad), "--quiet")
    assert code == 0 and out
    assert err == ("replay: 2 input record(s) rejected: rerun with --out DIR to keep each "
                   "with its reason and source (DIR/rejected.jsonl)\n"), err
    code, _, err = run("replay", str(bad), "--quiet", "--strict", "--out", str(tmp_path / "o"))
    assert code == 1
    assert f"2 input record(s) rejected: each with its reason and source in {tmp_path}/o/" \
           "rejected.jsonl" in err, err
    assert len((tmp_path / "o" / "rejected.jsonl").read_bytes().splitlines()) == 2
    assert (tmp_path / "o" / "exposures.jsonl").read_bytes()  # written all the same
    assert run("replay", str(clean), "--quiet", "--strict") [0] == 0
    assert run("replay", str(clean), "--quiet")[2] == ""
