"""P&L explain: components add up to `actual` exactly; on the demo books a ±1% move of
every forward and mark over one hour leaves a residual under 2% of |actual| per book;
the CLI's json, table and png."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from greekstream.cli import main
from greekstream.core.explain import COMPONENTS
from greekstream.core.timeutil import format_ts, parse_ts
from greekstream.runtime.explain import explain_window
from greekstream.runtime.replay import read_records, replay
from greekstream.sample.generate import write_sample

pytestmark = pytest.mark.timeout(300)

HOUR_US = 3600 * 1_000_000


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], int]:
    """The kafka-test profile (the demo books over two hours): its first hour, and T0."""
    path = tmp_path_factory.mktemp("explain") / "day.jsonl"
    write_sample(path, "kafka-test", show_progress=False)
    lines = path.read_bytes().splitlines()
    t_start = parse_ts(orjson.loads(lines[0])["ts"])
    t0 = t_start + HOUR_US
    return [raw for raw in lines if parse_ts(orjson.loads(raw)["ts"]) <= t0], t0


def moved(day: tuple[list[bytes], int], move: float, tmp: Path) -> tuple[Path, int, int]:
    """The first hour, then at T1 = T0 + 1 h every forward, mark and index × (1 + move)."""
    lines, t0 = day
    t1 = t0 + HOUR_US
    src = tmp / "first-hour.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    engine = replay(read_records(src), keep_outputs=False).engine
    at = format_ts(t1)
    extra = []
    for n, inst in enumerate(engine.instruments.values()):
        body: dict[str, object] = {"type": "quote", "event_id": f"move-{n}", "ts": at,
                                   "instrument_id": inst.instrument_id}
        if inst.is_option and inst.forward is not None:
            body.update(underlying_price=inst.forward * (1 + move), mark_iv=inst.vol)
        elif not inst.is_option and inst.mark is not None:
            body.update(mark_price=inst.mark * (1 + move))
        else:
            continue
        extra.append(orjson.dumps(body))
    for n, (u, price) in enumerate(engine.index.items()):
        extra.append(orjson.dumps({"type": "index", "event_id": f"move-x{n}", "ts": at,
                                   "underlying": u, "price": price * (1 + move)}))
    out = tmp / f"moved-{move}.jsonl"
    out.write_bytes(b"\n".join(lines + extra) + b"\n")
    return out, t0, t1


@pytest.mark.parametrize("move", [0.01, -0.01])
def test_residual_is_small_for_a_one_percent_move_over_an_hour(
    day: tuple[list[bytes], int], move: float, tmp_path: Path,
) -> None:
    path, t0, t1 = moved(day, move, tmp_path)
    rows = explain_window(read_records(path), t0, t1)
    books = sorted({str(r["book"]) for r in rows})
    assert len(books) >= 3
    for book in books:
        mine = [r for r in rows if r["book"] == book]
        actual = sum(float(r["actual"]) for r in mine)  # type: ignore[arg-type]
        residual = sum(float(r["residual"]) for r in mine)  # type: ignore[arg-type]
        delta = sum(float(r["delta"]) for r in mine)  # type: ignore[arg-type]
        assert abs(actual) > 1.0 and delta != 0.0, (book, actual)
        assert abs(residual) < 0.02 * abs(actual), (book, actual, residual)


def test_components_add_up_to_actual_exactly(day: tuple[list[bytes], int],
                                             tmp_path: Path) -> None:
    path, t0, t1 = moved(day, 0.03, tmp_path)
    rows = explain_window(read_records(path), t0 - HOUR_US // 2, t1)  # trades in the window
    assert any(r["new_trades"] != 0.0 for r in rows)
    for r in rows:
        total = 0.0
        for name in COMPONENTS:
            total += float(r[name])  # type: ignore[arg-type]
        assert total == r["actual"], r


def test_cli_json_table_and_png(day: tuple[list[bytes], int], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    path, t0, t1 = moved(day, 0.01, tmp_path)
    window = ["--from", format_ts(t0), "--to", format_ts(t1)]
    capsys.readouterr()
    assert main(["explain", str(path), *window, "--book", "mm-1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["book"] for r in rows} == {"mm-1"}
    assert set(rows[0]) == {"book", "underlying", "from", "to", "actual", *COMPONENTS}
    assert main(["explain", str(path), *window, "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert "P&L explain (USD)" in table and "residual" in table and "mm-1" in table
    png = tmp_path / "explain.png"
    assert main(["explain", str(path), *window, "--format", "png", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert main(["explain", str(path), "--from", format_ts(t1), "--to", format_ts(t0)]) == 2
