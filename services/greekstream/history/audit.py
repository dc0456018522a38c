"""Audit: re-derive outputs from stored raw events and compare them with stored outputs.

Outputs are matched by ``event_id`` (deterministic from their inputs) and compared
column by column, as stored. Every difference is a :class:`Divergence`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import BaseModel

from greekstream.core.engine import EngineConfig
from greekstream.core.events import encode
from greekstream.history.client import History
from greekstream.history.migrate import require_schema
from greekstream.history.replay_io import iter_raw, time_filter
from greekstream.history.rows import OUTPUT_TABLES, Row, Table, output_row
from greekstream.runtime.replay import replay


@dataclass(frozen=True)
class Divergence:
    kind: str  # "missing" (re-derived, not stored), "unexpected" (stored only), "differs"
    type: str
    event_id: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.type:<12} {self.event_id}  {self.detail}"


def in_range(ts: Any, t_from: int | None, t_to: int | None) -> bool:
    """Is an output's ts in [t_from, t_to]? One without a ts only when there is no t_from."""
    if ts is None:
        return t_from is None
    return (t_from is None or ts >= t_from) and (t_to is None or ts <= t_to)


def rederived_rows(
    outputs: Iterable[BaseModel], t_from: int | None, t_to: int | None
) -> dict[str, dict[str, Row]]:
    by_type: dict[str, dict[str, Row]] = {kind: {} for kind in OUTPUT_TABLES}
    for event in outputs:
        kind: str = getattr(event, "type", "")
        fields = event.__dict__
        if kind in by_type and in_range(fields.get("ts"), t_from, t_to):
            row = output_row(kind, fields, partial(encode, event))
            by_type[kind][fields["event_id"]] = row[: len(OUTPUT_TABLES[kind].compared)]
    return by_type


def stored_rows(
    history: History, table: Table, t_from: int | None, t_to: int | None
) -> dict[str, list[Row]]:
    """Every distinct stored row per event_id. A table's ReplacingMergeTree keeps several
    rows of one key until a merge: a second, different row of an output (a rewrite, an
    edit) is there for every reader until then, so each is compared, not the one that
    happened to come last."""
    where, params = time_filter(t_from, t_to)
    if table.name == "rejections" and t_from is None:
        where = f"({where}) OR NOT has_ts"
    columns = table.select_list(table.compared)
    rows = history.rows(
        f"SELECT DISTINCT {columns} FROM (SELECT * FROM {table.name} WHERE {where})",
        params,
    )
    found: dict[str, list[Row]] = {}
    for row in rows:
        if table.name == "rejections" and not row[2]:
            row = (row[0], 0, *row[2:])
        versions = found.setdefault(row[0], [])
        if tuple(row) not in versions:
            versions.append(tuple(row))
    return found


def compare(kind: str, table: Table, derived: dict[str, Row], stored: dict[str, list[Row]]
            ) -> Iterator[Divergence]:
    for event_id in sorted(derived.keys() - stored.keys()):
        yield Divergence("missing", kind, event_id, "re-derived but not in history")
    for event_id in sorted(stored.keys() - derived.keys()):
        yield Divergence("unexpected", kind, event_id, "in history but not re-derived")
    for event_id in sorted(derived.keys() & stored.keys()):
        a, versions = derived[event_id], stored[event_id]
        for b in sorted(versions, key=repr):
            diffs = [
                f"{name}: stored {sv!r} != re-derived {dv!r}"
                for name, dv, sv in zip(table.compared, a, b, strict=True)
                if dv != sv
            ]
            if diffs:
                if len(versions) > 1:
                    diffs.append(f"one of {len(versions)} different rows stored for it")
                yield Divergence("differs", kind, event_id, "; ".join(diffs))


def audit(
    history: History,
    t_from: int | None = None,
    t_to: int | None = None,
    config: EngineConfig | None = None,
) -> list[Divergence]:
    """Every divergence between stored outputs and outputs re-derived from raw events in
    [t_from, t_to]. The replay always starts at the beginning of history (state) and
    goes through all of it, as the engine did: a record dated before ``t_to`` may have
    arrived after records dated past it (a late trade), and its outputs, in the window,
    were computed with those (cutting the replay at ``t_to`` by ts re-derived them
    without: false divergences on a clean store). Only the window's outputs are kept."""
    require_schema(history)
    time_filter(t_from, t_to)  # validates the range
    kept: list[BaseModel] = []

    def keep(event: BaseModel) -> None:
        if in_range(getattr(event, "ts", None), t_from, t_to):
            kept.append(event)

    replay(iter_raw(history), as_of_us=None, config=config, keep_outputs=False,
           on_output=keep)
    return audit_outputs(history, kept, t_from, t_to)


def audit_outputs(
    history: History, outputs: Iterable[BaseModel], t_from: int | None = None,
    t_to: int | None = None,
) -> list[Divergence]:
    """Every divergence between the stored typed output tables and ``outputs``."""
    derived = rederived_rows(outputs, t_from, t_to)
    found: list[Divergence] = []
    for kind, table in OUTPUT_TABLES.items():
        stored = stored_rows(history, table, t_from, t_to)
        found.extend(compare(kind, table, derived[kind], stored))
    return found
