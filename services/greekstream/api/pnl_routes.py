"""P&L routes of `greekstream serve`: P&L as of a time, vega by expiry, and the P&L
explain of a window (json, or the waterfall png). Each re-derives from the stored
inputs through the engine: the numbers `replay --as-of` and `explain` give. As every
replay of the service, in a worker process within the token's replay slots (429) and the
replay timeout (504), holding a connection only while the records are read.

Imported by :func:`greekstream.api.app._routes` once app.py is loaded (it uses its
auth dependency and renderers)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

from greekstream.api.app import Auth, Format, Service, _in_replay_slot, _render, _time
from greekstream.api.tokens import Scope
from greekstream.core.engine import EngineConfig
from greekstream.core.term_structure import VEGA_COLUMNS, vega_by_expiry
from greekstream.core.timeutil import format_ts
from greekstream.history.asof import check_as_of
from greekstream.history.client import History
from greekstream.history.replay_io import Record, iter_raw
from greekstream.reports.tables import PNL_FIELDS
from greekstream.runtime.explain import explain_window
from greekstream.runtime.replay import replay

Records = Iterable[Record]  # read once, as they come (a replay worker's spool file)


PNL_COLUMNS = ("book", "underlying", "as_of", *PNL_FIELDS, "funding_usd_per_day", "vanna",
               "volga")  # each row's keys, in order: a CSV's header, however empty


def pnl_rows(records: Records, book: str, moment: int, at: str,
             config: EngineConfig | None = None) -> list[dict[str, Any]]:
    """The book's P&L per underlying as of ``moment`` (run in a replay worker)."""
    engine = replay(records, as_of_us=moment, config=config, keep_outputs=False).engine
    return [dict(zip(PNL_COLUMNS, (r.book, r.underlying, at,
                                   *((r.pnl or {}).get(k, 0.0) for k in PNL_FIELDS),
                                   r.funding_usd_per_day, r.vanna, r.volga), strict=True))
            for r in engine.exposures(moment) if r.book == book]


def vega_rows(records: Records, book: str, moment: int,
              config: EngineConfig | None = None) -> list[dict[str, Any]]:
    """The book's vega per underlying and expiry at ``moment`` (run in a replay worker)."""
    engine = replay(records, as_of_us=moment, config=config, keep_outputs=False).engine
    return [t for t in vega_by_expiry(engine, moment) if t["book"] == book]


def add_pnl_routes(app: FastAPI, service: Service,
                   known: Callable[[Request, str, Scope], None]) -> None:
    """``known``: app.py's check that the token may read the book and that it exists."""

    def replayed(request: Request, book: str, who: Scope, end: int, label: str,
                 work: Callable[..., Any], *args: Any) -> Any:
        """``work(records, *args)`` on the stored inputs of ``book`` (+ market) up to
        ``end``, in a replay worker (api/app.py ``_in_replay_slot``: streamed to it
        through a spool file)."""
        known(request, book, who)

        def read(h: History, seconds: float) -> Iterator[Record]:
            check_as_of(h, end, label=label)
            return iter_raw(h, book=book, t_to=end, max_seconds=seconds)

        return _in_replay_slot(service, who, read, work, *args,
                               hint="it replays the book's whole stored history up to then")

    @app.get("/v1/books/{book:book}/pnl",
             summary="P&L per underlying as of a time (realized, unrealized, fees, funding)")
    def pnl(request: Request, book: str, who: Auth, at: str, format: Format = "json",
            ) -> Response:
        moment = _time(at, "at")
        assert moment is not None
        # as_of in RFC 3339 UTC, as every time the service answers, not `at` as typed
        rows = replayed(request, book, who, moment, "as-of", pnl_rows, book, moment,
                        format_ts(moment))
        return _render(rows, format, f"{book}-pnl", PNL_COLUMNS)

    @app.get("/v1/books/{book:book}/vega-by-expiry",
             summary="Vega (USD per vol point) per underlying and option expiry at a time")
    def vega_terms(request: Request, book: str, who: Auth, at: str, format: Format = "json",
                   ) -> Response:
        moment = _time(at, "at")
        assert moment is not None
        rows = replayed(request, book, who, moment, "as-of", vega_rows, book, moment)
        return _render(rows, format, f"{book}-vega-by-expiry", VEGA_COLUMNS)

    @app.get("/v1/books/{book:book}/explain",
             summary="P&L explain of a window per underlying (json, or a waterfall png)")
    def explain(
        request: Request, book: str, who: Auth,
        t_from: Annotated[str, Query(alias="from")],
        t_to: Annotated[str, Query(alias="to")],
        format: Literal["json", "png"] = "json",
    ) -> Response:
        t0, t1 = _time(t_from, "from"), _time(t_to, "to")
        assert t0 is not None and t1 is not None
        if t1 <= t0:
            raise HTTPException(400, "`to` must be after `from`")
        rows = replayed(request, book, who, t1, "to", explain_window, t0, t1, book)
        if format == "json":
            return Response(orjson.dumps(rows), media_type="application/json")
        from greekstream.reports.plots import explain_waterfalls

        with tempfile.TemporaryDirectory() as tmp:
            path = explain_waterfalls(rows, Path(tmp) / "explain.png", t0, t1)
            return Response(path.read_bytes(), media_type="image/png")
