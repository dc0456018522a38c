"""`python -m greekstream.sample --seed` (bench/ runs it) holds the bound that
`greekstream sample` holds: the seed is in every event_id, and one too large to fit the
128 characters of an event_id wrote a file whose every event the engine rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.sample.__main__ import main


@pytest.mark.parametrize("argv", [["--profile", "kafka-test"], ["loans", "--count", "5"]])
def test_a_seed_past_2_to_the_64_is_a_usage_error(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "x.jsonl"
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--seed", str(10**125), "--out", str(out)])
    assert exit_.value.code == 2
    assert "is too large: a seed is 0 to 18446744073709551615" in capsys.readouterr().err
    assert not out.exists()
