"""P&L routes of `greekstream serve`: P&L as of a time, vega by expiry, and the P&L
explain of a window (json, or the waterfall png). Each re-derives from the stored
inputs through the engine: the numbers `replay --as-of` and `explain` give.

Imported by :func:`greekstream.api.app._routes` once app.py is loaded (it uses its
auth dependency and renderers)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import orjson
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

from greekstream.api.app import Auth, Format, Service, _render, _time
from greekstream.api.tokens import Scope
from greekstream.core.engine import Engine
from greekstream.core.term_structure import vega_by_expiry
from greekstream.history.asof import check_as_of
from greekstream.history.replay_io import iter_raw
from greekstream.reports.tables import PNL_FIELDS
from greekstream.runtime.explain import explain_window
from greekstream.runtime.replay import replay


def add_pnl_routes(app: FastAPI, service: Service,
                   known: Callable[[Request, str, Scope], None]) -> None:
    """``known``: app.py's check that the token may read the book and that it exists."""

    def engine_at(request: Request, book: str, who: Scope, at: str) -> tuple[Engine, int]:
        """The engine replayed from the stored inputs of ``book`` (+ market) up to ``at``."""
        moment = _time(at, "at")
        assert moment is not None
        known(request, book, who)
        with service.db() as h:
            check_as_of(h, moment)
            engine = replay(iter_raw(h, book=book, t_to=moment), as_of_us=moment,
                            keep_outputs=False).engine
        return engine, moment

    @app.get("/v1/books/{book:book}/pnl",
             summary="P&L per underlying as of a time (realized, unrealized, fees, funding)")
    def pnl(request: Request, book: str, who: Auth, at: str, format: Format = "json",
            ) -> Response:
        engine, moment = engine_at(request, book, who, at)
        rows = [{"book": r.book, "underlying": r.underlying, "as_of": at,
                 **{k: (r.pnl or {}).get(k, 0.0) for k in PNL_FIELDS},
                 "funding_usd_per_day": r.funding_usd_per_day, "vanna": r.vanna,
                 "volga": r.volga}
                for r in engine.exposures(moment) if r.book == book]
        return _render(rows, format, f"{book}-pnl")

    @app.get("/v1/books/{book:book}/vega-by-expiry",
             summary="Vega (USD per vol point) per underlying and option expiry at a time")
    def vega_terms(request: Request, book: str, who: Auth, at: str, format: Format = "json",
                   ) -> Response:
        engine, moment = engine_at(request, book, who, at)
        rows = [t for t in vega_by_expiry(engine, moment) if t["book"] == book]
        return _render(rows, format, f"{book}-vega-by-expiry")

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
        known(request, book, who)
        with service.db() as h:
            check_as_of(h, t1, label="to")
            rows = explain_window(iter_raw(h, book=book, t_to=t1), t0, t1, book)
        if format == "json":
            return Response(orjson.dumps(rows), media_type="application/json")
        from greekstream.reports.plots import explain_waterfalls

        with tempfile.TemporaryDirectory() as tmp:
            path = explain_waterfalls(rows, Path(tmp) / "explain.png", t0, t1)
            return Response(path.read_bytes(), media_type="image/png")
