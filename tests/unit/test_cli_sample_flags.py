"""`greekstream sample`: a flag of another profile is refused, as --with-bad and --events
are, not ignored: `sample --count 500` wrote the 2-hour desk day, not 500 loans."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run


@pytest.mark.parametrize("args", [
    ["--count", "500"],
    ["--asset", "WBTC"],
    ["--profile", "day", "--count", "500"],
    ["--profile", "returns", "--asset", "BTC"],
    ["--profile", "bench", "--events", "10000", "--count", "10"],
])
def test_a_loans_flag_without_the_loans_profile_is_a_usage_error(
        tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "s.jsonl"
    code, _, err = run("sample", "--quiet", *args, "--out", str(out))
    assert code == 2, err
    assert "is for --profile loans" in err and "hint: " in err
    assert not out.exists()


def test_the_loans_profile_takes_them_and_their_defaults(tmp_path: Path) -> None:
    out = tmp_path / "l.jsonl"
    code, _, err = run("sample", "--quiet", "--profile", "loans", "--count", "3", "--asset",
                       "WBTC", "--out", str(out))
    assert code == 0, err
    assert b'"WBTC"' in out.read_bytes()
    code, _, err = run("sample", "--quiet", "--profile", "loans", "--out", str(out))
    assert code == 0 and err == "wrote 5,002 events to " + str(out) + "\n", err
