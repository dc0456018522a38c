"""The compact (columnar) risk matrix in history (issue 12, item 5): migration 0022 gives
rows stored before it their scenario arrays from their JSON, the writer fills them for new
rows, a quant ARRAY JOINs the cells in SQL, the API returns one shape (the columnar one)
for old and new rows, and the page renders both, on real chDB and headless Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.golden.test_v1_outputs import v1_risk_matrix
from tests.integration.history.browser import Browser
from tests.integration.history.conftest import ALL_TOKEN, DESK_A_TOKEN, _serving
from tests.integration.history.test_page import chromium, sign_in

from greekstream.core.events import RiskMatrixEvent, encode
from greekstream.history import connect, write_replay
from greekstream.history.migrate import (
    current_version,
    load_migrations,
    migrate,
    migrations_dir,
)
from greekstream.history.rows import MATRIX_COLUMNS
from greekstream.runtime.replay import read_records

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

BEFORE = 22  # the migration that added the arrays
OLD_COLUMNS = ("event_id", "ts", "book", "underlying", "worst_loss", "json", "seq")


def old_json(event: RiskMatrixEvent) -> bytes:
    """The event as it was encoded before 0022: ``scenarios``, a list of objects (v1's
    keys and order, as the golden test projects it), and no columns."""
    record = v1_risk_matrix(orjson.loads(encode(event)))
    return orjson.dumps({k: v for k, v in record.items() if k not in MATRIX_COLUMNS})


def columns(event: RiskMatrixEvent) -> tuple[list[Any], ...]:
    return tuple(getattr(event, c) for c in MATRIX_COLUMNS)


def is_old(o: Any) -> bool:
    """The outputs stored before 0022 in these tests: desk-a's BTC risk matrices."""
    return o.type == "risk_matrix" and o.book == "desk-a" and o.underlying == "BTC"


@pytest.fixture(scope="module")
def matrices(events_outputs: tuple[Any, ...]) -> dict[str, RiskMatrixEvent]:
    """desk-a's last matrix per underlying: BTC's stored in the old shape, the others new."""
    last = {o.underlying: o for o in events_outputs
            if o.type == "risk_matrix" and o.book == "desk-a"}
    assert {"BTC", "ETH"} <= set(last)
    assert len(last["BTC"].pnl) == 45  # the default grid
    return dict(sorted(last.items()))


@pytest.fixture(scope="module")
def mixed_store(chdb_dir: Path, tmp_path_factory: pytest.TempPathFactory, events_file: Path,
                events_outputs: tuple[Any, ...]) -> str:
    """A store migrated up to 0021 holding desk-a's BTC risk matrices in the old shape,
    then the rest of the replay written by today's writer (which migrates on: 0022).
    Built once for the module: its tests only read it."""
    dsn = f"chdb://{chdb_dir}?database=risk_matrix_columns"  # no other test's (t<n>)
    before = tmp_path_factory.mktemp("before")
    for path in migrations_dir().glob("*.sql"):
        if int(path.name[:4]) < BEFORE:
            shutil.copy(path, before / path.name)
    old = [(seq, o) for seq, o in enumerate(events_outputs) if is_old(o)]
    assert len(old) > 10
    with connect(dsn, create=True) as history:
        migrate(history, before)
        assert "price_shocks" not in str(history.rows("SHOW CREATE TABLE risk_matrix")[0][0])
        rows = [(o.event_id, o.ts, o.book, o.underlying, o.worst_loss, old_json(o).decode(),
                 seq) for seq, o in old]
        history.insert("risk_matrix", [list(c) for c in zip(*rows, strict=True)], OLD_COLUMNS)
    write_replay(dsn, read_records(events_file),
                 [o for o in events_outputs if not is_old(o)])
    with connect(dsn) as history:
        assert max(m.version for m in load_migrations()) == current_version(history) >= BEFORE
    return dsn


def test_the_migration_gives_old_rows_their_arrays_and_the_writer_fills_new_ones(
    mixed_store: str, events_outputs: tuple[Any, ...]
) -> None:
    select = ", ".join(MATRIX_COLUMNS)
    with connect(mixed_store) as history:
        stored = {e: tuple(cols) for e, *cols in history.rows(
            f"SELECT event_id, {select} FROM risk_matrix")}
        cells = history.rows(
            "SELECT count(), countIf(n IS NULL), sum(x), countIf(p < 0) FROM risk_matrix "
            "ARRAY JOIN price_shocks AS p, vol_shocks AS v, time_shift_h AS h, names AS n, "
            "pnl AS x")[0]
        old_text = history.rows("SELECT any(json) FROM risk_matrix WHERE book = 'desk-a' "
                                "AND underlying = 'BTC'")[0][0]
    want = {o.event_id: o for o in events_outputs if o.type == "risk_matrix"}
    assert set(stored) == set(want)
    for event_id, event in want.items():  # every number as the engine made it, in order
        assert stored[event_id] == tuple(list(c) for c in columns(event)), event_id
    n = sum(len(m.pnl) for m in want.values())
    assert cells[0] == cells[1] == n  # one row per cell; the default grid has no names
    assert cells[2] == pytest.approx(sum(sum(m.pnl) for m in want.values()), rel=1e-9)
    assert cells[3] == sum(sum(p < 0 for p in m.price_shocks) for m in want.values())
    assert '"scenarios"' in old_text  # an old row's JSON is kept as it was stored


@pytest.fixture(scope="module")
def mixed_url(mixed_store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tokens = tmp_path_factory.mktemp("tokens") / "tokens.yaml"  # conftest's tokens_file
    tokens.write_text(f'"{DESK_A_TOKEN}": ["desk-a"]\n"{ALL_TOKEN}": "*"\n')
    with _serving(mixed_store, tokens) as url:
        yield url


def test_the_api_returns_the_columnar_shape_for_old_and_new_rows(
    mixed_url: str, matrices: dict[str, RiskMatrixEvent]
) -> None:
    with httpx.Client(base_url=mixed_url, timeout=60) as client:
        response = client.get("/v1/books/desk-a/risk-matrix",
                              headers={"Authorization": f"Bearer {ALL_TOKEN}"})
    assert response.status_code == 200, response.text
    rows = {r["underlying"]: r["matrix"] for r in response.json()}
    assert set(rows) == set(matrices)
    for event in matrices.values():  # the old row converted, the new as stored: the event
        assert rows[event.underlying] == orjson.loads(encode(event))
        assert "scenarios" not in rows[event.underlying]


def test_the_page_renders_old_and_new_matrices(
    mixed_url: str, matrices: dict[str, RiskMatrixEvent], tmp_path: Path
) -> None:
    with Browser(chromium(), tmp_path / "profile") as browser:
        page = browser.open(f"{mixed_url}/#book=desk-a&bucket=1m")
        assert sign_in(page, ALL_TOKEN) == "1", page.dom()[-2000:]
        page.wait_for("+document.getElementById('matrix').dataset.cells > 0")
        tables = orjson.loads(page.eval("""JSON.stringify([...document.querySelectorAll(
            '#matrix .heat')].map((t) => ({
                cells: t.querySelectorAll('td').length,
                filled: [...t.querySelectorAll('td')].filter((td) => td.title).length,
                worst: [...t.querySelectorAll('td.worst')].map((td) => td.title),
                heads: [...t.rows[0].cells].map((th) => th.textContent)})))"""))
    # one table per underlying, in order: BTC's stored before 0022, the others after
    assert len(tables) == len(matrices) >= 2
    for table, event in zip(tables, matrices.values(), strict=True):
        grid = [n is None for n in event.names]
        assert table["filled"] == table["cells"] == sum(grid) > 0
        assert table["heads"][1:] == [f"{'+' if p > 0 else ''}{round(p * 100)}%"
                                      for p in dict.fromkeys(event.price_shocks)]
        worst = event.worst_scenario
        assert len(table["worst"]) == 1 and worst.name is None
        assert table["worst"][0] == f"{round(worst.pnl):,} USD"
