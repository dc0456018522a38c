"""core/records.record: the engine's value classes are frozen where it is checked (mypy,
strict over greekstream.core) and keep frozen's equality and hash at run time."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mypy import api as mypy_api

from greekstream.core.books import Cause
from greekstream.core.valuation import ContractGreeks

REPO = Path(__file__).resolve().parents[2]


def test_records_compare_and_hash_by_value() -> None:
    a, b = Cause("q1", 5, "exp"), Cause("q1", 5, "exp")
    assert a == b and hash(a) == hash(b) and a is not b
    assert Cause("q1", 5, "reval") != a
    assert len({ContractGreeks(1.0, 2.0), ContractGreeks(1.0, 2.0), ContractGreeks()}) == 2
    assert not hasattr(a, "__dict__")  # slotted


def test_mypy_refuses_assigning_a_field(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent("""
        from greekstream.core.books import Cause, ExposureValues
        from greekstream.core.valuation import ContractGreeks

        def touch(c: Cause, g: ContractGreeks, e: ExposureValues) -> None:
            c.ts = 1
            g.delta = 2.0
            e.gamma = 3.0
    """))
    out, err, status = mypy_api.run([
        "--strict", "--no-incremental", "--follow-imports=silent",
        "--config-file", str(REPO / "pyproject.toml"), str(probe),
    ])
    assert status == 1, out + err
    for field in ("ts", "delta", "gamma"):
        assert f'Property "{field}" defined in' in out and "is read-only" in out, out
    assert out.count("is read-only") == 3, out
