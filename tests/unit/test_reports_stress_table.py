"""The stress table's named-scenario lists keep their P&Ls in one right-aligned column:
they followed each shock's text (of varying length), so -5,554,432 and -694,293 ended
in different columns, and a name longer than its padded width pushed its total out."""

from __future__ import annotations

import re
from pathlib import Path

from greekstream.commands.stress import stress_reports, table_text
from greekstream.core.engine import Engine
from greekstream.core.timeutil import parse_ts
from greekstream.runtime.scenario_files import load
from tests.unit import builders as b

CALL = "BTC-27MAR26-60000-C"
FILE = """scenarios:
  - {name: a, shocks: {BTC: {price_shock: -0.05, vol_shock: 0.1}}}
  - {name: a-scenario-with-a-name-longer-than-thirty-chars,
     shocks: {BTC: {price_shock: -0.5, vol_shock: 0.8, time_shift_h: 168}}}
  - {name: up, shocks: {BTC: {price_shock: 0.3}}}
"""


def _ends(lines: list[str]) -> set[int]:
    """Where each line's P&L ends (its worst mark left out)."""
    ends = set()
    for line in lines:
        match = list(re.finditer(r"-?[\d,]+\*?", line.split("(")[0]))[-1]
        ends.add(match.end() - match.group().endswith("*"))
    return ends


def test_named_scenario_pnls_are_one_right_aligned_column(tmp_path: Path) -> None:
    engine = b.short_call_book(CALL)
    path = tmp_path / "named.yaml"
    path.write_text(FILE)
    at = parse_ts(b.ts(3))
    text = table_text(stress_reports(engine, at, load(path)), at)
    lines = text.splitlines()
    start = lines.index("named scenarios:") + 1
    named = lines[start:start + 3]
    assert len(_ends(named)) == 1, "\n".join(named)
    total = lines[lines.index(next(ln for ln in lines if "ALL underlyings" in ln)) + 1:][:3]
    assert len(_ends(total)) == 1, "\n".join(total)


def test_the_grid_columns_run_from_the_largest_fall_to_the_largest_rise() -> None:
    """The pm preset's extended moves (-66 %, -33 %, +50 % ...) were columns after +16 %,
    in the file's order (the heatmap sorts them)."""
    engine = b.short_call_book(CALL)
    at = parse_ts(b.ts(3))
    lines = table_text(stress_reports(engine, at, load("pm")), at).splitlines()
    head = next(ln for ln in lines if ln.startswith("vol \\ price")).split()[3:]
    shocks = [float(h.rstrip("%")) for h in head]
    assert shocks == sorted(shocks) and shocks[0] == -66 and shocks[-1] == 500, head


def test_a_book_of_stablecoins_is_not_said_to_have_no_positions() -> None:
    """A book holding 5M USDC (collateral) was 'no positions as of ...': the default grid
    does not shock stablecoins, so there is nothing to revalue, but it has positions."""
    engine = Engine()
    engine.handle(b.rec("collateral", "c1", 1, book="cash", asset="USDC",
                        amount=5_000_000.0), "t:0")
    at = parse_ts(b.ts(1))
    reports = stress_reports(engine, at, book="cash")
    assert reports == []
    text = table_text(reports, at)
    assert "no positions as of" not in text and "stablecoins" in text, text
