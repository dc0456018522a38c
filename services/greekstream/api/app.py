"""`greekstream serve`: historical exposure analytics over HTTP (JSON or ``?format=csv``).

Every /v1 route needs ``Authorization: Bearer TOKEN``; a token sees only its books
(403, logged, for any other). The OpenAPI document is at /openapi.json (no /docs: it
would load swagger-ui from a CDN); a small chart page at / with its assets under
/static/ (the token is typed into it and kept in the tab's sessionStorage).
Every response carries the headers of :data:`SECURITY_HEADERS`.
"""

from __future__ import annotations

import csv
import errno
import functools
import hashlib
import io
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from greekstream.api import queries
from greekstream.api.overview import overview
from greekstream.api.pool import (
    Busy,
    HistoryPool,
    PoolTimeout,
    ReadyCheck,
    Replays,
    SpoolsFull,
)
from greekstream.api.tokens import Scope, Tokens
from greekstream.core.engine import EngineConfig
from greekstream.core.guards import TS_RANGE_TEXT, ts_in_range
from greekstream.core.timeutil import TimestampError, format_ts, parse_ts
from greekstream.errors import HistoryError, HistoryQueryError, UnknownBookError
from greekstream.history.asof import (
    REPLAYED_EXPOSURE_COLUMNS,
    STORED_EXPOSURE_COLUMNS,
    check_as_of,
    replay_exposures,
    stored_exposures_as_of,
)
from greekstream.history.client import History, connect, timed_out
from greekstream.history.migrate import require_schema
from greekstream.history.replay_io import Record, iter_raw
from greekstream.history.spool import (
    BUFFER,
    SpoolTimeout,
    SpoolTooLarge,
    read_spool,
    spool,
)
from greekstream.reports.tables import csv_cell
from greekstream.runtime.whatif_trade import WhatIfTrade
from greekstream.settings import EngineSettings, QuerySettings

log = logging.getLogger("greekstream.serve")
STATIC = Path(__file__).parent / "static"
Format = Literal["json", "csv"]
_bearer = HTTPBearer(auto_error=False)


class BookConvertor(Convertor[str]):
    """A book name in a path: percent-encoded, so it may hold "/" and even CR/LF."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("book", BookConvertor())
MAX_WITHIN_S = 366 * 86_400.0  # a hedge follow-up window longer than a year means nothing
# ?last=N: only the last N rows of a list (breaches, hedge intents), oldest first; the page
# asks for them, so that a book with more than queries.MAX_ROWS still shows its latest
Last = Annotated[int | None, Query(gt=0, le=queries.MAX_ROWS)]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every response; ``no-store`` on all
    but the static assets (answers to a bearer token must not sit in any cache)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        cache = b"no-cache" if static else b"no-store"

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"cache-control"]
                message["headers"] = [*headers, *SECURITY_HEADERS, (b"cache-control", cache)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's own 500 is sent by its outermost middleware, outside this one:
            # plain text without these headers. Answer it here (logged, with the trace),
            # unless a response had already begun (then nothing can be said but to stop).
            if started:
                raise
            log.exception("internal error: %s %s", scope.get("method"), scope.get("path"))
            await JSONResponse({"error": error_code(500),
                                "detail": "internal error; the server log has the details"},
                               500)(scope, receive, send_with_headers)


MAX_BODY_BYTES = 1 << 20  # the what-if body, the only one: 1 MiB is ~15,000 trades


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is refused with 413 before it is
    held in memory, at once by its Content-Length or as soon as the bytes streamed pass
    it (FastAPI reads a body whole, before the token is checked: any client could make
    the server hold gigabytes)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _detail(self) -> str:
        return f"the request body is over {self.max_bytes} bytes; send fewer trades"

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await JSONResponse({"error": error_code(413), "detail": self._detail()},
                               413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # FastAPI answers it as any HTTPException
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited, send)


def _time(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        moment = parse_ts(value)
    except (TimestampError, OverflowError) as exc:
        raise HTTPException(400, f"bad {name} {value!r}: not an RFC 3339 timestamp") from exc
    if not ts_in_range(moment):
        raise HTTPException(400, f"bad {name} {value!r}: out of the range history holds "
                                 f"({TS_RANGE_TEXT})")
    return moment


def _render(rows: list[dict[str, Any]], fmt: Format, name: str,
            columns: Sequence[str]) -> Response:
    """JSON, or a CSV with a header of ``columns`` (the rows' keys, in order), however
    few rows: an empty answer is a header alone, which a script reads as no rows."""
    if fmt == "json":
        return Response(orjson.dumps(rows), media_type="application/json")
    buffer = io.StringIO()
    # CRLF (RFC 4180): the csv module then quotes a cell holding a lone CR too, which
    # with "\n" it left bare, and a spreadsheet started a new row at it
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": attachment(f"{name}.csv")})


SCENARIO_COLUMNS = ("book", "underlying", "ts", "price_shock", "vol_shock", "time_shift_h",
                    "scenario", "pnl_usd", "worst_loss_usd")


def scenario_rows(book: str, matrices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The matrices of ``risk_matrix`` as one row per (underlying, scenario), in the grid's
    order: a spreadsheet's long table (a matrix's columns zipped, docs/contract.md)."""
    rows = []
    for m in matrices:
        cells = m["matrix"]
        columns = zip(cells["price_shocks"], cells["vol_shocks"], cells["time_shift_h"],
                      cells["names"], cells["pnl"], strict=True)
        for price, vol, hours, name, pnl in columns:
            rows.append(dict(zip(SCENARIO_COLUMNS, (
                book, m["underlying"], m["ts"], price, vol, hours, name or "", pnl,
                m["worst_loss"]), strict=True)))
    return rows


def attachment(filename: str) -> str:
    """RFC 6266: an ASCII fallback ``filename`` and the exact name in ``filename*``
    (RFC 8187 UTF-8 percent-encoding), so quotes, CR/LF or non-ASCII cannot break it."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def var_png(event: dict[str, Any]) -> bytes:
    """A stored `var` event's P&L distribution as a PNG (plots.var_distributions)."""
    import tempfile

    import numpy as np

    from greekstream.core.var import BookVar, tail_size
    from greekstream.reports.plots import var_distributions

    pnl = np.asarray(event["pnl"], dtype=np.float64)
    worst = int(np.argmin(pnl))
    dates = [""] * len(pnl)  # only these three dates are stored (the plot uses no other)
    dates[0], dates[-1], dates[worst] = event["first_date"], event["last_date"], \
        event["worst_date"]
    report = BookVar(event["book"], parse_ts(event["as_of"]), event["confidence"],
                     tuple(dates), pnl, event["var"], event["es"],
                     tail_size(event["confidence"], len(pnl)), worst,
                     tuple(event["unshocked"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "var.png"
        var_distributions([report], path)
        return path.read_bytes()


# /readyz answers within this (the chart's probe gives up after its timeoutSeconds, 3)
READY_WAIT_S = 1.0
BUSY_RETRY_AFTER_S = 2  # a connection is free again as soon as one query ends
REPLAY_RETRY_AFTER_S = 5  # a replay slot, a worker or a spool file: a replay's seconds


# The ``error`` code of an answer of this status that names none of its own (every error
# answer carries one, beside its ``detail``: docs/history.md, "Error answers")
ERROR_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "body_too_large", 422: "invalid_request",
    429: "too_many_requests", 500: "internal_error", 503: "unavailable", 504: "timeout",
    507: "insufficient_storage",
}


def error_code(status: int) -> str:
    return ERROR_CODES.get(status, f"http_{status}")


class CodedError(HTTPException):
    """An HTTPException whose JSON carries a stable ``error`` code beside its ``detail``
    (and ``retry_after_s`` with its Retry-After), for a client to act on without
    reading the words (:func:`coded_error`)."""

    def __init__(self, status: int, error: str, detail: str,
                 retry_after_s: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
        super().__init__(status, detail, headers=headers)
        self.error = error
        self.retry_after_s = retry_after_s


async def coded_error(_request: Request, exc: Exception) -> Response:
    """Every HTTPException's answer (Starlette's own too: an unknown route or static
    file, a method not allowed): ``{"error", "detail"}``, the code of a
    :class:`CodedError` or else the status's (:data:`ERROR_CODES`)."""
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if not is_body_allowed_for_status_code(exc.status_code):
        return Response(status_code=exc.status_code, headers=headers)
    body: dict[str, Any] = {"error": getattr(exc, "error", None) or error_code(exc.status_code),
                            "detail": exc.detail}
    retry_after_s = getattr(exc, "retry_after_s", None)
    if retry_after_s is not None:
        body["retry_after_s"] = retry_after_s
    return JSONResponse(body, exc.status_code, headers=headers)


class Service:
    """The app's state: a pool of history connections and the replay workers (api/pool.py).
    No lock is held across requests: a query waits only when every connection is busy,
    and then at most ``queries.connection_wait_s``; ClickHouse stops a query past
    ``queries.query_timeout_s`` (its ``max_execution_time``), so eight slow queries
    cannot hold every other request, nor /readyz, without bound."""

    def __init__(self, history: History, tokens: Tokens, settings: QuerySettings,
                 engine: EngineSettings) -> None:
        self.tokens = tokens
        self.settings = settings
        # the processors' engine settings, as JSON for the replay workers (worker_config):
        # an as-of, P&L or what-if replay must re-derive what the processors derived
        self.engine = engine.model_dump_json()
        self.pool = HistoryPool(history, settings.connections,
                                {"max_execution_time": settings.query_timeout_s})
        self.ready = ReadyCheck(lambda: connect(history.target.dsn), READY_WAIT_S)
        self.replays = Replays(settings.replay_workers, settings.replay_per_token,
                               settings.replay_timeout_s, settings.replay_spool_mb << 20,
                               settings.replay_spools)
        self.replays.sweep()  # spool files a killed serve left (none another serve holds)
        self.states = StateCache()  # what-if: the engine state a book's records build

    def close(self) -> None:
        self.replays.close()
        self.ready.close()
        self.pool.close()

    @contextmanager
    def db(self, timeout: float | None = None) -> Iterator[History]:
        """A pooled connection, waiting at most ``queries.connection_wait_s`` for one (then
        a 503 with Retry-After: the store is busy), or at most ``timeout`` s when given
        (then PoolTimeout: the replays count the wait against their own deadline). A
        query ClickHouse stopped at ``queries.query_timeout_s`` is a 504."""
        wait = self.settings.connection_wait_s if timeout is None else timeout
        try:
            history = self.pool.get(wait)
        except PoolTimeout:
            if timeout is not None:
                raise
            log.warning("no ClickHouse connection free within %g s (all %d in use): 503",
                        wait, self.pool.size)
            raise CodedError(
                503, "history_busy", "the history store is busy: all "
                f"{self.pool.size} of this service's ClickHouse connections stayed in use "
                f"for {wait:g} s (queries.connection_wait_s); retry after a few seconds, or "
                "narrow from/to if you asked for a long range",
                retry_after_s=BUSY_RETRY_AFTER_S) from None
        try:
            yield history
        except HistoryQueryError as exc:  # its first line, not naming the store (a
            # chDB directory, or a server's host and database: the operator's business)
            where = str(history.target)
            detail = str(exc).split("\n")[0].replace(where, "the history store")
            if isinstance(exc, UnknownBookError):
                raise CodedError(404, "unknown_book", detail) from exc
            raise HTTPException(400, detail) from exc
        except HistoryError as exc:
            if timed_out(exc):  # no SQL, no store in the answer; the log has ClickHouse's
                limit = self.settings.query_timeout_s
                log.warning("a query was stopped at max_execution_time (%g s, "
                            "queries.query_timeout_s): %s", limit, exc)
                raise CodedError(
                    504, "query_timeout", f"the query took longer than {limit:g} s "
                    "(queries.query_timeout_s), so ClickHouse stopped it; narrow from/to, "
                    "ask for one book, or retry later") from exc
            log.error("history query failed: %s", exc)
            raise CodedError(503, "history_unavailable", "history store unavailable") from exc
        finally:
            self.pool.put(history)


def _scope(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Scope:
    tokens: Tokens = request.app.state.service.tokens
    if len(request.headers.getlist("authorization")) > 1:  # which one is meant? (the
        # first was taken: a proxy that adds its own could grant the client's, or not)
        raise HTTPException(400, "more than one Authorization header: send one bearer token")
    scope = tokens.scope(creds.credentials) if creds is not None else None
    if scope is None:
        raise HTTPException(401, "missing or unknown bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    return scope


Auth = Annotated[Scope, Depends(_scope)]


def book_access(request: Request, book: str, who: Scope) -> None:
    if not who.allows(book):
        log.warning("refused: %s asked for book %r (%s %s)", who.name, book,
                    request.method, request.url.path)
        raise HTTPException(403, f"this token may not read book {book!r}")


def _reads_book(request: Request, book: str, who: Auth) -> Scope:
    """``who``, once it may read the path's book (403 otherwise). As a dependency it runs
    before the request body is validated: a book the token may not see is a 403 whatever
    the body holds (only a body that is not JSON at all is answered first, a 422)."""
    book_access(request, book, who)
    return who


ReadsBook = Annotated[Scope, Depends(_reads_book)]


ECHO_DEPTH = 32  # levels of lists and objects a 422 echoes of what it refused


def _json_safe(value: Any, depth: int = ECHO_DEPTH) -> Any:
    """``value`` with every non-finite float as the JSON literal it stands for, as a
    string ("Infinity", "-Infinity", "NaN"): strict JSON has no such numbers; and its
    lists and objects ``depth`` levels down as "...": a body nested hundreds of levels
    (Python's json reads them; 1 MiB holds 500,000) echoed whole overflowed the
    recursion limit here, a 500 and a traceback of a thousand frames."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict | list) and depth <= 0:
        return "..."
    if isinstance(value, dict):
        return {k: _json_safe(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v, depth - 1) for v in value]
    return value


async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 (``{"detail": [{type, loc, msg, input, ctx}, ...]}``), but one
    that can always be written: Python's json reads 1e400, NaN or Infinity in a body
    as a float, pydantic refuses it (finite_number) and echoes it in ``input``, and
    FastAPI's own handler then failed to write the error (a 500). The echo is cut at
    :data:`ECHO_DEPTH` levels before it is encoded (jsonable_encoder recurses too)."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"error": error_code(422),
                         "detail": jsonable_encoder(_json_safe(list(exc.errors())))}, 422)


def create_app(history: History, tokens: Tokens, settings: QuerySettings | None = None,
               engine: EngineSettings | None = None) -> FastAPI:
    """``engine``: the processors' engine settings (`serve` reads them as the processors
    do, ``engine_settings()``); the replays run with them. A scenario or returns file
    they name that cannot be read is a ConfigError here, not at the first replay."""
    require_schema(history)
    engine = engine or EngineSettings()
    worker_config(engine.model_dump_json())
    service = Service(history, tokens, settings or QuerySettings(), engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        lifespan=lifespan,
        title="greekstream history",
        version="1",
        description="Historical exposure analytics over the greekstream ClickHouse history. "
        "Send `Authorization: Bearer TOKEN`; each token sees only its books. "
        "Add `?format=csv` for CSV. Times are RFC 3339 UTC. Percent-encode book names "
        "in paths (`/` is `%2F`).",
        docs_url=None,  # swagger-ui and redoc load scripts from a CDN: not under our CSP
        redoc_url=None,
    )
    app.state.service = service
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, coded_error)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)  # the last added runs first: on the 413 too
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _routes(app, service)
    return app


def _routes(app: FastAPI, service: Service) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        """(Both probes are async routes: a sync one waits for a thread of the request
        pool, 40, which slow requests can all hold: the probe then timed out, and the
        pod was made unready and restarted for load.)"""
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready while ClickHouse answers (a load balancer stops sending queries otherwise),
        said within READY_WAIT_S (api/pool.py ReadyCheck). Every pooled connection in use
        is load, not an outage: still ready (those requests get a 503 busy and
        Retry-After), with the free connections shown; unready would send this pod's
        load to the other replicas, which the same queries then saturate in turn."""
        why = await service.ready.check()
        if why is not None:
            return JSONResponse({"status": "unavailable", "error": "history_unavailable",
                                 "detail": why}, status_code=503)
        return JSONResponse({"status": "ready", "connections": service.pool.size,
                             "connections_free": service.pool.free})

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/v1/books", summary="Books this token may read")
    def list_books(who: Auth) -> list[str]:
        with service.db() as h:
            return who.visible(queries.books(h))

    def known(request: Request, book: str, who: Scope) -> None:
        book_access(request, book, who)
        with service.db() as h:
            queries.require_known(book, queries.books(h))

    from greekstream.api.pnl_routes import add_pnl_routes

    add_pnl_routes(app, service, known)  # P&L, vega by expiry, explain (api/pnl_routes.py)

    @app.get("/v1/books/{book:book}/timeseries",
             summary="Exposure time series of a book: last, min, max per bucket")
    def timeseries(
        request: Request, book: str, who: Auth, bucket: Literal["1m", "1h", "1d"] = "1m",
        underlying: str | None = None,
        t_from: Annotated[str | None, Query(alias="from")] = None,
        t_to: Annotated[str | None, Query(alias="to")] = None, format: Format = "json",
    ) -> Response:
        known(request, book, who)
        with service.db() as h:
            rows = queries.timeseries(h, book, bucket, _time(t_from, "from"), _time(t_to, "to"),
                                      underlying)
        return _render(rows, format, f"{book}-timeseries-{bucket}",
                       queries.TIMESERIES_COLUMNS)

    @app.get("/v1/books/{book:book}/breaches", summary="Breach history with durations")
    def breaches(
        request: Request, book: str, who: Auth,
        t_from: Annotated[str | None, Query(alias="from")] = None,
        t_to: Annotated[str | None, Query(alias="to")] = None, format: Format = "json",
        last: Last = None,
    ) -> Response:
        known(request, book, who)
        with service.db() as h:
            rows = queries.breach_history(h, book, _time(t_from, "from"), _time(t_to, "to"),
                                          last)
        return _render(rows, format, f"{book}-breaches", queries.BREACH_COLUMNS)

    @app.get("/v1/books/{book:book}/hedge-intents",
             summary="Hedge intents and whether a trade on the hedge instrument followed")
    def intents(
        request: Request, book: str, who: Auth,
        t_from: Annotated[str | None, Query(alias="from")] = None,
        t_to: Annotated[str | None, Query(alias="to")] = None,
        within_s: Annotated[float, Query(gt=0, le=MAX_WITHIN_S, allow_inf_nan=False)] = 30.0,
        format: Format = "json", last: Last = None,
    ) -> Response:
        known(request, book, who)
        with service.db() as h:
            rows = queries.hedge_intents(h, book, _time(t_from, "from"), _time(t_to, "to"),
                                         within_s, last)
        return _render(rows, format, f"{book}-hedge-intents", queries.INTENT_COLUMNS)

    @app.post("/v1/books/{book:book}/what-if",
              summary="Preview hypothetical trades: Greeks, worst loss, liquidation distance, "
                      "breaches and intents they would cause (no state changes)")
    def what_if(request: Request, book: str, who: ReadsBook, body: WhatIfRequest) -> Response:
        """The book's state is re-derived from its stored records, off the request path
        (a worker process, the token's replay slots: 429, and the replay timeout: 504)."""
        from greekstream.core.whatif import WhatIfError

        known(request, book, who)
        trades = [t.hypothetical() for t in body.trades]
        key: list[bytes] = []

        def cached(records: Iterable[Record]) -> tuple[Any, ...]:
            """The state these records build, if a preview built it before: then the
            worker restores it instead of replaying them (the same state: restore =
            straight run)."""
            key.append(StateCache.key(book, records))
            state = service.states.get(key[0])
            return (book, trades, state) if state is not None else (book, trades)

        def read(h: History, seconds: float) -> Iterator[Record]:
            return iter_raw(h, book, max_seconds=seconds)

        try:
            result = _in_replay_slot(service, who, read, what_if_on_records, prepare=cached,
                                     hint="preview fewer books' history (a smaller store)",
                                     offline="Preview offline instead, on the book's input "
                                     "events: greekstream whatif EVENTS --trades FILE")
        except WhatIfError as exc:
            raise HTTPException(422, str(exc)) from exc
        state = result.pop("state", None)
        if state is not None:
            service.states.put(key[0], state)
        result["as_of"] = format_ts(result["as_of"])
        return JSONResponse(result)

    @app.get("/v1/regimes", summary="Volatility regime changes per underlying (any token)")
    def regimes(
        who: Auth, t_from: Annotated[str | None, Query(alias="from")] = None,
        t_to: Annotated[str | None, Query(alias="to")] = None, format: Format = "json",
    ) -> Response:
        with service.db() as h:
            rows = queries.regimes(h, _time(t_from, "from"), _time(t_to, "to"))
        return _render(rows, format, "regimes", queries.REGIME_COLUMNS)

    @app.get("/v1/books/{book:book}/risk-matrix", summary="Latest (or as-of) scenario risk matrix")
    def risk(request: Request, book: str, who: Auth, at: str | None = None,
             format: Format = "json") -> Response:
        """json: per underlying its `risk_matrix` event; csv: one row per scenario."""
        known(request, book, who)
        with service.db() as h:
            matrices = queries.risk_matrix(h, book, _time(at, "at"))
        if format == "json":
            return _render(matrices, "json", "risk", queries.RISK_MATRIX_COLUMNS)
        return _render(scenario_rows(book, matrices), "csv", f"{book}-risk-matrix",
                       SCENARIO_COLUMNS)

    @app.get("/v1/books/{book:book}/var",
             summary="Latest (or as-of) historical VaR and ES of a book (json or png)")
    def book_var(request: Request, book: str, who: Auth, at: str | None = None,
                 format: Literal["json", "png"] = "json") -> Response:
        """The stored `var` output (streamed every var_interval_s with a returns file);
        `format=png` draws its one-day P&L distribution with VaR and ES marked."""
        known(request, book, who)
        with service.db() as h:
            found = queries.var(h, book, _time(at, "at"))
        if found is None:  # the processor emits `var` only with a returns file
            raise HTTPException(404, f"no stored VaR for book {book!r}"
                                + (f" at or before {at}" if at else "")
                                + " (set GREEKSTREAM_ENGINE__RETURNS_FILE)")
        if format == "json":
            return Response(orjson.dumps(found), media_type="application/json")
        return Response(var_png(found), media_type="image/png")

    @app.get("/v1/overview", summary="The desk now: exposures, limit use, open breaches, P&L")
    def desk_overview(who: Auth) -> Response:
        """As of the last stored event, per (book, underlying) the token may read: the
        latest exposure, the limits in force and their use in %, open breaches (those keys
        first), P&L, worst scenario loss, liquidation distance; and the top books."""
        with service.db() as h:
            found = overview(h, who.visible(queries.books(h)))
        return Response(orjson.dumps(found), media_type="application/json")

    @app.get("/v1/exposures", summary="Exposures as of a time, per (book, underlying)")
    def as_of(
        request: Request, who: Auth, at: str, book: str | None = None,
        mode: Literal["stored", "replay"] = "stored", format: Format = "json",
    ) -> Response:
        """`stored`: the latest stored exposure event at or before `at` (fast).
        `replay`: re-derived by replaying stored inputs, revalued at `at` — the numbers
        `greekstream replay --as-of` gives."""
        moment = _time(at, "at")
        assert moment is not None
        if book is not None:
            known(request, book, who)
        if mode == "replay":
            rows = _replayed(service, moment, book, who)
        else:
            with service.db() as h:
                check_as_of(h, moment)
                wanted = [book] if book else who.visible(queries.books(h))
                rows = stored_exposures_as_of(h, moment, wanted)
        return _render(rows, format, f"exposures-{at}", REPLAYED_EXPOSURE_COLUMNS
                       if mode == "replay" else STORED_EXPOSURE_COLUMNS)

    @app.get("/v1/top", summary="Books ranked by |delta_usd| or |vega| at a time")
    def top(
        who: Auth, at: str, by: Literal["delta_usd", "vega"] = "delta_usd",
        limit: Annotated[int, Query(gt=0, le=1000)] = 10, format: Format = "json",
    ) -> Response:
        moment = _time(at, "at")
        assert moment is not None
        with service.db() as h:
            check_as_of(h, moment)
            visible = who.visible(queries.books(h))
            rows = stored_exposures_as_of(h, moment, visible)
        return _render(queries.top_books(rows, by, limit), format, f"top-{by}",
                       queries.top_columns(by))


class WhatIfRequest(BaseModel):
    trades: list[WhatIfTrade] = Field(min_length=1)


def what_if_on_records(records: Iterable[Record], book: str, trades: list[Any],
                       state: bytes | None = None, *,
                       config: EngineConfig | None = None) -> dict[str, Any]:
    """What-if on the state the records build (run in a replay worker process), or on
    ``state``, a snapshot of it a former preview returned (the records are not read);
    a fresh state is returned with the result (``state``), for the next preview of the
    same records."""
    from greekstream.core.engine import Engine
    from greekstream.core.whatif import what_if as preview
    from greekstream.runtime.replay import replay

    if state is None:
        engine = replay(records, config=config, keep_outputs=False).engine
        fresh: bytes | None = engine.snapshot()
    else:
        engine, fresh = Engine(config), None
        engine.restore(state)
    result = preview(engine, book, trades)
    if fresh is not None:
        result["state"] = fresh
    return result


class StateCache:
    """The last few engine states previews built, each under its book and a digest of
    the records that built it (any record stored since makes a new key). Thread-safe;
    least recently used out first."""

    def __init__(self, entries: int = 4) -> None:
        self.entries = entries
        self.hits = 0
        self._states: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(book: str, records: Iterable[Record]) -> bytes:
        digest = hashlib.sha256(book.encode() + b"\0")
        for raw, source in records:
            digest.update(b"%d:%s\0%s\0" % (len(raw), raw, source.encode()))
        return digest.digest()

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            state = self._states.get(key)
            if state is not None:
                self._states.move_to_end(key)
                self.hits += 1
            return state

    def put(self, key: bytes, state: bytes) -> None:
        with self._lock:
            self._states[key] = state
            self._states.move_to_end(key)
            while len(self._states) > self.entries:
                self._states.popitem(last=False)


Reader = Callable[[History, float], Iterator[Record]]


def configured(records: Iterable[Record], work: Callable[..., Any], engine: str,
               *args: Any) -> Any:
    """In a replay worker: ``work(records, *args, config=...)`` with the engine
    configuration of ``engine`` (EngineSettings as JSON), the processors' own."""
    return work(records, *args, config=worker_config(engine))


@functools.lru_cache(maxsize=4)
def worker_config(engine: str) -> EngineConfig:
    """The EngineConfig of EngineSettings ``engine`` (JSON): its scenario and returns files
    read once per process, not per replay."""
    from greekstream.runtime.scenario_files import engine_config

    return engine_config(EngineSettings.model_validate_json(engine))


OFFLINE_REPLAY = ("Replay them offline instead: "
                  "greekstream replay --from-history DSN --book BOOK --to T")


def _in_replay_slot(service: Service, who: Scope, read: Reader, work: Any, *args: Any,
                    hint: str, busy_hint: str = "", offline: str = OFFLINE_REPLAY,
                    prepare: Callable[[Iterable[Record]], tuple[Any, ...]] | None = None,
                    ) -> Any:
    """``work(records, *args)`` in a worker process, within the token's replay slots (429)
    and the timeout (504), which the reading counts against too; a worker that died
    meanwhile (killed) is a 503. ``read(history, seconds)``: the stored records, within
    ``seconds``; only it holds a connection. They are spooled to a file as they stream
    (history/spool.py) and the worker reads them from it, so neither process holds them.
    With ``prepare``, ``work(records, *prepare(records))`` instead (``prepare`` reads the
    spooled records, not a list)."""
    replays = service.replays
    timeout = CodedError(
        504, "replay_timeout", f"the replay took longer than {replays.timeout_s:g} s; {hint}")
    try:
        with replays.slot(who.name) as handed:
            deadline = time.monotonic() + replays.timeout_s
            spooled = replays.spool_file()
            future = None
            try:
                _spool_records(service, read, spooled.path, deadline)
                call = prepare(read_spool(spooled.path)) if prepare is not None else args
                if time.monotonic() >= deadline:  # prepare is a pass over the file too
                    raise SpoolTimeout("no time left to replay the records")
                future = replays.submit(handed, configured, spooled, work, service.engine,
                                        *call)
                return future.result(timeout=max(0.0, deadline - time.monotonic()))
            except (FutureTimeout, SpoolTimeout):
                raise timeout from None
            except BrokenProcessPool as exc:  # its worker was killed (out of memory?); the
                # next replay starts new workers (Replays.submit)
                log.error("a replay worker ended abruptly (killed: out of memory?): %s", exc)
                raise CodedError(
                    503, "replay_worker_died", "the replay's worker process ended abruptly "
                    f"(out of memory?); retry shortly. {offline}",
                    retry_after_s=REPLAY_RETRY_AFTER_S) from None
            except SpoolTooLarge as exc:  # a capacity of this service: not the request's fault
                raise CodedError(
                    507, "replay_too_large", "the stored records this replay reads are over the "
                    f"{exc.max_bytes >> 20} MiB an on-demand replay may spool "
                    f"(queries.replay_spool_mb): {hint}. {offline}") from None
            except SpoolDiskFull as exc:
                log.error("replay spool: %s (%s, queries.replay_spools x replay_spool_mb "
                          "must fit in it)", exc, spooled.path.parent)
                raise CodedError(
                    507, "spool_disk_full", "the disk this service spools replays to is full; "
                    f"retry later. {offline}") from None
            finally:  # else the worker still reads it: its future removes it when done
                if future is None or future.done():
                    spooled.remove()
    except Busy:
        raise CodedError(
            429, "replay_busy", f"this token already runs {replays.per_token} replay(s); "
            "wait for it" + busy_hint, retry_after_s=REPLAY_RETRY_AFTER_S) from None
    except SpoolsFull:
        raise CodedError(
            503, "replays_full", f"this service already runs {replays.max_spools} replay(s), "
            "its most at once (queries.replay_spools); retry shortly" + busy_hint,
            retry_after_s=REPLAY_RETRY_AFTER_S) from None


class SpoolDiskFull(Exception):
    """The spool file's file system refused a write (full, over quota, over a size limit)."""


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _spool_records(service: Service, read: Reader, path: Path, deadline: float) -> None:
    """``read``'s records into the spool file at ``path`` by ``deadline`` (else
    SpoolTimeout; waiting for a connection counts); the read is closed, and its
    connection given back, either way. A full disk is :class:`SpoolDiskFull`."""
    try:
        with (service.db(timeout=max(0.0, deadline - time.monotonic())) as h,
              open(path, "wb", buffering=BUFFER) as out):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SpoolTimeout("no time left to read the records")
            records = read(h, left)
            try:
                spool(records, out, deadline, service.replays.spool_max_bytes)
            except HistoryError as exc:  # ClickHouse stopped it at max_execution_time
                if time.monotonic() < deadline:
                    raise
                raise SpoolTimeout(str(exc)) from exc
            finally:
                if isinstance(records, Generator):
                    records.close()
    except PoolTimeout as exc:
        raise SpoolTimeout(str(exc)) from exc
    except OSError as exc:  # the file's writes (or its close's flush): not ClickHouse's
        if exc.errno in _DISK_FULL:
            raise SpoolDiskFull(exc.strerror or str(exc)) from exc
        raise


def _replayed(service: Service, moment: int, book: str | None,
              who: Scope) -> list[dict[str, Any]]:
    """Exposures re-derived by the engine off the request path (``_in_replay_slot``).
    Without ``book``, a token limited to some books replays those books' records (and the
    market's) only: other desks' history neither costs it time and spool room (429, 504,
    507) nor reaches its worker."""
    def read(h: History, seconds: float) -> Iterator[Record]:
        check_as_of(h, moment)
        return iter_raw(h, book=book, t_to=moment, max_seconds=seconds,
                        books=who.books if book is None else None)

    exposures = _in_replay_slot(service, who, read, replay_exposures, moment, book,
                                hint="ask for a book (?book=) or use mode=stored",
                                busy_hint=" (or use mode=stored)")
    rows = [r.as_dict() for r in exposures if who.allows(r.book)]
    for r in rows:
        r["as_of"] = format_ts(moment)
    return rows
