"""`--scenarios FILE` as a risk manager edits it: a key written twice is refused, not
half-read (PyYAML, and JSON readers, keep the last and drop the first silently)."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.errors import ConfigError
from greekstream.runtime.scenario_files import load


@pytest.mark.parametrize("text", [
    # two ETH grids: the first one (its -50 % shock) vanished
    "grids:\n  default: {price_shocks: [0.1]}\n  ETH: {price_shocks: [-0.5]}\n"
    "  ETH: {price_shocks: [0.1]}\n",
    # BTC twice in one scenario: which -x % did the desk mean?
    "scenarios:\n  - name: crash\n    shocks: {BTC: -0.5, ETH: -0.4, BTC: -0.1}\n",
    # the same in JSON
    '{"price_shocks": [-0.5, 0.5], "price_shocks": [0.1]}',
], ids=["grids", "shocks", "json"])
def test_a_key_written_twice_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as said:
        load(path)
    assert "appears twice" in str(said.value)
    assert str(path) in str(said.value)


def test_a_merge_key_may_still_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text("grids:\n  ETH: &g {price_shocks: [0.1], vol_shocks: [0]}\n"
                    "  default:\n    <<: *g\n    price_shocks: [0.2]\n", encoding="utf-8")
    config = load(path)
    assert [float(x) for x in config.grid_for("BTC").price_shock] == [0.2]
    assert [float(x) for x in config.grid_for("ETH").price_shock] == [0.1]


def test_the_shipped_presets_still_load() -> None:
    for name in ("pm", "library"):
        assert load(name).grids


def test_a_file_that_cannot_be_read_is_said_in_words(tmp_path: Path) -> None:
    # it said "[Errno 21] Is a directory: '...'" and "'utf-8' codec can't decode byte ..."
    with pytest.raises(ConfigError) as said:
        load(tmp_path)
    assert str(said.value).splitlines()[0] == (
        f"cannot read scenario file {tmp_path}: Is a directory")
    binary = tmp_path / "grid.yaml"
    binary.write_bytes(b"\xff\xfeprice_shocks: [0.1]")
    with pytest.raises(ConfigError) as said:
        load(binary)
    assert str(said.value).splitlines()[0] == (
        f"cannot read scenario file {binary}: not UTF-8 text (invalid start byte at byte 0)")
