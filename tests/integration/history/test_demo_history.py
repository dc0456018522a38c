"""`greekstream demo --history DSN`: a store that holds input records already is refused
before anything is written (the same file again would store its outputs twice)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli import run
from tests.unit import builders as b

from greekstream.history import connect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CALL = "BTC-27MAR26-60000-C"


def _file(path: Path, *extra: bytes) -> Path:
    lines = [b.option(CALL, 60000), b.index("x0", 1, 61000),
             b.quote_opt("q0", 2, CALL, 61200, 0.62), *extra]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _rows(dsn: str) -> dict[str, int]:
    with connect(dsn) as history:
        return {t: history.rows(f"SELECT count() FROM {t}")[0][0]
                for t in ("raw_events", "exposures", "output_chain")}


def test_a_store_holding_the_file_or_other_records_is_refused_before_writing(
    dsn: str, tmp_path: Path,
) -> None:
    """demo --history into a store that `replay FILE --history` filled with FILE (as
    the help's examples did: both wrote chdb://$PWD/gs) stored every output a second
    time and then stopped on its own broken hash chain; one holding another file stored
    outputs that did not follow it. Both are a UsageError now, and nothing changes."""
    events = _file(tmp_path / "events.jsonl", b.trade("t1", 4, CALL, "buy", 10))
    other = _file(tmp_path / "other.jsonl", b.trade("t2", 5, CALL, "sell", 3))
    assert run("replay", str(events), "--history", dsn, "--quiet")[0] == 0
    before = _rows(dsn)
    out = tmp_path / "demo-out"
    for file, says in ((events, "holds " + str(events) + " already (as events.jsonl)"),
                       (other, "holds 4 input records already")):
        code, _, err = run("demo", "--events", str(file), "--history", dsn, "--out", str(out))
        assert code == 2, err
        assert says in err and "hint: give --history a new store" in err, err
        assert not out.exists()
        assert _rows(dsn) == before
    from greekstream.commands.demo import _require_fresh_store

    _require_fresh_store(f"{dsn}fresh", events)  # a new database: the demo may write it


def test_a_store_path_the_system_cannot_look_up_is_a_usage_error(tmp_path: Path) -> None:
    """A 300-character directory name: the store check's is_dir raised ENAMETOOLONG."""
    from greekstream.commands.demo import _require_fresh_store
    from greekstream.errors import UsageError

    events = _file(tmp_path / "events.jsonl")
    with pytest.raises(UsageError, match="File name too long"):
        _require_fresh_store(f"chdb://{tmp_path / ('k' * 300)}", events)
