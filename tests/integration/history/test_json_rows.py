"""The sink's JSON path: outputs inserted as JSONEachRow and parsed by ClickHouse give
the same rows as the Python row builders (models → columns), table by table."""

from __future__ import annotations

from pathlib import Path

import pytest

from greekstream.core.events import encode
from greekstream.history import connect
from greekstream.history.migrate import migrate
from greekstream.history.rows import OUTPUT_TABLES
from greekstream.history.writer import JSON_EACH_ROW, HistoryWriter, sniff_type
from greekstream.runtime.replay import read_records, replay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_clickhouse_parsed_rows_equal_python_built_rows(chdb_dir: Path,
                                                          events_file: Path) -> None:
    outputs = replay(read_records(events_file)).outputs
    kinds = {o.type for o in outputs}
    assert {"exposure", "breach", "hedge_intent"} <= kinds
    tables = {}
    for label, as_json in (("columns", False), ("json", True)):
        history = connect(f"chdb://{chdb_dir}?database=json_{label}", create=True)
        migrate(history)
        writer = HistoryWriter(history)
        for seq, event in enumerate(outputs):
            if as_json:
                assert writer.add_output_json(encode(event), seq) == event.type
            else:
                writer.add_output(event, seq)
        if as_json:  # the JSON path was taken, not the row builders
            assert {k for k in JSON_EACH_ROW if writer.json[OUTPUT_TABLES[k].name]} \
                == JSON_EACH_ROW & kinds
        writer.flush(token=f"t-{label}")
        tables[label] = {
            t.name: history.rows(f"SELECT {t.select_list()} FROM {t.name} ORDER BY event_id")
            for t in {OUTPUT_TABLES[k] for k in kinds}
        }
        history.close()
    for name, rows in tables["columns"].items():
        assert rows, name
        assert tables["json"][name] == rows, name


def test_type_sniffing_reads_only_the_first_key() -> None:
    assert sniff_type(b'{"type":"exposure","event_id":"x"}') == "exposure"
    assert sniff_type(b'{"event_id":"x","type":"exposure"}') is None
    assert sniff_type(b'{"type":"') is None
