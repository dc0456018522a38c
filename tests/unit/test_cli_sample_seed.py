"""`greekstream sample --seed`: the seed is in every event_id; one too large to fit the
128 characters of an event_id wrote a file whose every event the engine rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run


@pytest.mark.parametrize("profile", ["small", "loans", "returns"])
def test_a_seed_past_2_to_the_64_is_a_usage_error(tmp_path: Path, profile: str) -> None:
    out = tmp_path / "s.jsonl"
    code, _, err = run("sample", "--quiet", "--profile", profile, "--seed", str(10**125),
                       "--out", str(out))
    assert code == 2, err
    assert "is too large: a seed is 0 to 18446744073709551615" in err and "hint: " in err
    assert not out.exists()


def test_the_largest_seed_makes_events_the_engine_takes(tmp_path: Path) -> None:
    from greekstream.runtime.replay import read_records, replay

    out = tmp_path / "l.jsonl"
    code, _, err = run("sample", "--quiet", "--profile", "loans", "--count", "5", "--seed",
                       str(2**64 - 1), "--out", str(out))
    assert code == 0, err
    result = replay(read_records(out), keep_outputs=True)
    assert not [o for o in result.outputs if o.type == "rejected"]
