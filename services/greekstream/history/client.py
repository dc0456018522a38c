"""Connecting to ClickHouse (server or embedded chDB) with errors mapped to ours.

Every clickhouse-connect / chDB exception leaves this module as a
:class:`~greekstream.errors.HistoryError` raised ``from`` the original.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from greekstream.errors import HistoryError

_SCHEMES = ("chdb", "http", "https", "clickhouse")
DEFAULT_DATABASE = "greekstream"


@dataclass(frozen=True)
class Target:
    """What a DSN names, without its password (safe to print)."""

    scheme: str
    location: str  # chDB directory, or host:port
    database: str
    dsn: str

    @property
    def embedded(self) -> bool:
        return self.scheme == "chdb"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.location}/{self.database}"


def parse_dsn(dsn: str) -> Target:
    """Check a DSN's shape; raise HistoryError naming what is wrong."""
    hint = "use chdb:///ABSOLUTE/DIR[?database=NAME] or http(s)://USER:PASS@HOST:8123/DATABASE"
    if not isinstance(dsn, str) or "://" not in dsn:
        raise HistoryError(
            f"malformed ClickHouse DSN {dsn!r}: not of the form SCHEME://...", hint=hint
        )
    try:
        parsed = urlparse(dsn)
        port = parsed.port
    except ValueError as exc:
        raise HistoryError(f"malformed ClickHouse DSN: {exc}", hint=hint) from exc
    if parsed.scheme not in _SCHEMES:
        raise HistoryError(f"malformed ClickHouse DSN: unknown scheme {parsed.scheme!r}", hint=hint)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    if parsed.scheme == "chdb":
        if parsed.netloc or not parsed.path.startswith("/") or parsed.path == "/":
            raise HistoryError(
                f"malformed chDB DSN {dsn!r}: expected chdb:///ABSOLUTE/DIR", hint=hint
            )
        database = query.get("database", DEFAULT_DATABASE)
        return Target("chdb", parsed.path, _db_name(database, hint), dsn)
    if not parsed.hostname:
        raise HistoryError(f"malformed ClickHouse DSN {_redact(dsn)!r}: no host", hint=hint)
    database = unquote(parsed.path.strip("/")) or query.get("database", DEFAULT_DATABASE)
    location = f"{parsed.hostname}:{port or (8443 if parsed.scheme == 'https' else 8123)}"
    return Target(parsed.scheme, location, _db_name(database, hint), dsn)


def _db_name(name: str, hint: str) -> str:
    if not name.replace("_", "").isalnum():
        raise HistoryError(f"malformed ClickHouse DSN: bad database name {name!r}", hint=hint)
    return name


def _redact(dsn: str) -> str:
    parsed = urlparse(dsn)
    if parsed.password:
        return dsn.replace(f":{parsed.password}@", ":***@")
    return dsn


class History:
    """A connection to one greekstream history database."""

    def __init__(self, target: Target, client: Any) -> None:
        self.target = target
        self.client = client
        self.database = target.database
        self.closed = False

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with wrap(f"statement failed on {self.target}"):
            return self.client.command(sql, parameters=parameters)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with wrap(f"query failed on {self.target}"):
            return self.client.query(sql, parameters=parameters)

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return list(self.query(sql, parameters).result_rows)

    def tables(self) -> set[str]:
        """The tables of this database (a store migrated before a table's migration lacks it)."""
        return {r[0] for r in self.rows("SHOW TABLES")}

    def insert(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        token: str | None = None,
    ) -> None:
        settings = {"insert_deduplication_token": token} if token else None
        with wrap(f"insert into {table} failed on {self.target}"):
            self.client.insert(
                table,
                columns,
                column_names=list(column_names),
                column_oriented=True,
                settings=settings,
            )

    def insert_json(
        self, table: str, body: bytes, column_names: Sequence[str], token: str | None = None
    ) -> None:
        """Rows as JSONEachRow bytes, parsed by ClickHouse itself: keys not among
        ``column_names`` are skipped, RFC 3339 times read as DateTime64."""
        settings: dict[str, Any] = {
            "input_format_skip_unknown_fields": 1,
            "date_time_input_format": "best_effort",
            "input_format_json_read_objects_as_strings": 1,
        }
        if token:
            settings["insert_deduplication_token"] = token
        with wrap(f"insert into {table} failed on {self.target}"):
            self.client.raw_insert(table, list(column_names), body, settings=settings,
                                   fmt="JSONEachRow")

    def close(self) -> None:
        self.closed = True
        with suppress(Exception):  # closing a dead connection is not an error
            self.client.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def wrap(what: str, hint: str | None = None) -> Iterator[None]:
    """Re-raise any ClickHouse/chDB/network error as HistoryError ``from`` it."""
    try:
        yield
    except HistoryError:
        raise
    except Exception as exc:
        raise HistoryError(f"{what}: {_first_line(exc)}", hint=hint) from exc


# ClickHouse error codes of an insert refused for its data, not for the server's state:
# parse errors (CANNOT_PARSE_*: 6, 25, 26, 27, 38, 41, 72, 130, 467), INCORRECT_DATA 117,
# TYPE_MISMATCH 53, ARGUMENT_OUT_OF_BOUND 69, CANNOT_CONVERT_TYPE 70, TOO_LARGE_STRING_SIZE
# 131, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE 321, CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN 349,
# CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING 377, DECIMAL_OVERFLOW 407, UNKNOWN_ELEMENT_OF_ENUM
# 691, ATTEMPT_TO_READ_AFTER_EOF 32, VIOLATED_CONSTRAINT 469 (a table's CHECK).
DATA_ERROR_CODES = frozenset((6, 25, 26, 27, 32, 38, 41, 53, 69, 70, 72, 117, 130, 131, 321,
                              349, 377, 407, 467, 469, 691))
_CODE = re.compile(r"Code: (\d+)\.")
# raised by clickhouse-connect while it serializes a column (a value of the wrong type);
# it wraps most of them in its DataError (e.g. an int beyond Int64 for a DateTime64)
_CLIENT_DATA_ERRORS = (ValueError, TypeError, OverflowError, struct.error)


def _cause(exc: BaseException) -> BaseException | None:
    return exc.__cause__ if isinstance(exc, HistoryError) else exc


def refused_for_data(exc: BaseException) -> bool:
    """Whether a failed insert was refused for the rows it carried (a smaller insert
    without the bad row would succeed), not because ClickHouse is down or overloaded."""
    cause = _cause(exc)
    if cause is None:
        return False
    if isinstance(cause, _CLIENT_DATA_ERRORS) or _client_data_error(cause):
        return True
    codes = {int(c) for c in _CODE.findall(str(cause))}
    return bool(codes) and codes <= DATA_ERROR_CODES


def _client_data_error(cause: BaseException) -> bool:
    """clickhouse-connect's DataError: raised only for a value it cannot serialize (never
    for the connection or the server)."""
    try:
        from clickhouse_connect.driver.exceptions import DataError
    except ImportError:  # pragma: no cover (clickhouse-connect is a dependency)
        return False
    return isinstance(cause, DataError)


def too_many_partitions(exc: BaseException) -> bool:
    """An insert block touching more than ``max_partitions_per_insert_block`` partitions
    (TOO_MANY_PARTS, 252, with this message; the same code also means "merges are behind",
    a server state): a smaller block goes in, and no single row is to blame."""
    cause = _cause(exc)
    return cause is not None and "Too many partitions for single INSERT block" in str(cause)


# TIMEOUT_EXCEEDED (159): past max_execution_time; TOO_SLOW (160): ClickHouse estimated,
# once timeout_before_checking_execution_speed had passed, that it would be
TIMEOUT_CODES = frozenset((159, 160))


def timed_out(exc: BaseException) -> bool:
    """Whether ClickHouse stopped a query for its ``max_execution_time``."""
    cause = _cause(exc)
    return cause is not None and bool({int(c) for c in _CODE.findall(str(cause))}
                                      & TIMEOUT_CODES)


def _first_line(exc: BaseException) -> str:
    """The error's first line; for a value clickhouse-connect could not serialize, with
    its cause (e.g. ``struct.error: argument out of range``), which it would only have
    logged (:class:`_EncoderRefusals`)."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    cause = exc.__cause__
    if cause is not None and _client_data_error(exc):
        kind = type(cause)
        name = kind.__qualname__ if kind.__module__ == "builtins" else (
            f"{kind.__module__}.{kind.__qualname__}")
        text += f" ({name}: {_first_line(cause)})"
    return text[:400]


class _EncoderRefusals(logging.Filter):
    """clickhouse-connect logs an ERROR with a traceback for every insert it cannot
    serialize (a value that does not fit its column), then raises a DataError to the
    caller. Here the caller handles it: the sink splits the batch down to the bad row and
    quarantines it, so one bad row logged about 2·log2(batch) tracebacks. The refusal
    still reaches the caller whole, its cause in the message (:func:`_first_line`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Error serializing")


_ENCODER_REFUSALS = _EncoderRefusals()
for _encoder in ("clickhouse_connect.driver.transform", "clickhouse_connect.driver.rustcodec"):
    logging.getLogger(_encoder).addFilter(_ENCODER_REFUSALS)


EMBEDDED_HINT = (
    "pip install 'greekstream[embedded]' (`make venv` and the demo image have it), "
    "or give an http(s):// DSN of a ClickHouse server"
)


def require_engine(dsn: str) -> Target:
    """Parse ``dsn`` and check its engine is installed: chDB is an optional extra
    (``greekstream[embedded]``), so a chdb:// DSN without it is an error, not a traceback."""
    target = parse_dsn(dsn)
    if target.embedded:
        try:
            import chdb  # noqa: F401  (clickhouse-connect's chdb interface needs it)
        except ImportError as exc:
            raise HistoryError(
                f"the embedded ClickHouse (chDB) is not installed, so {target} "
                "cannot be opened",
                hint=EMBEDDED_HINT,
            ) from exc
    return target


def connect(dsn: str, create: bool = False) -> History:
    """Open the history database a DSN names; ``create`` makes the database if missing."""
    target = require_engine(dsn)
    hint = (
        "is the ClickHouse server up and the DSN right?"
        if not target.embedded
        else "is the directory writable, and no other process holds this chDB store?"
    )
    if target.embedded and not create:
        _require_store(target)
    import clickhouse_connect  # imported late: `greekstream --help` stays fast

    with _unreachable(target), wrap(f"cannot reach ClickHouse at {target}", hint=hint):
        client = _client(clickhouse_connect, target, database=None)
        if create:
            client.command(f"CREATE DATABASE IF NOT EXISTS {target.database}")
        elif target.database not in _databases(client):
            client.close()
            raise HistoryError(
                f"no greekstream history at {target}: database {target.database!r} does not exist",
                hint=f"run `greekstream history migrate {_redact(dsn)}` first",
            )
        client.close()
        client = _client(clickhouse_connect, target, database=target.database)
    return History(target, client)


@contextmanager
def _unreachable(target: Target) -> Iterator[None]:
    """A server that cannot be connected to at all is said in those words (host:port and
    why: refused, unknown host, timed out), not with urllib3's retry text."""
    try:
        yield
    except HistoryError as exc:
        why = None if target.embedded else _connect_failure(exc.__cause__)
        if why is None:
            raise
        raise HistoryError(
            f"cannot connect to ClickHouse at {target.location}: {why}",
            hint=f"is a ClickHouse server listening on {target.location}? start it, or "
                 "fix the host and port in the DSN",
        ) from exc.__cause__


def _connect_failure(exc: BaseException | None) -> str | None:
    """Why a connection could not be made, in words, if the root of ``exc``'s chain
    (clickhouse-connect's OperationalError ← urllib3's MaxRetryError ← ...) is a socket
    error; None for any other failure."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused (nothing is listening there)"
        if isinstance(exc, TimeoutError | socket.timeout):
            return "the connection timed out"
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror
        reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError
        exc = reason if isinstance(reason, BaseException) else exc.__cause__ or exc.__context__
    return None


DEMO_STORE_HINT = (
    "`make demo` writes its store to demo-out/chdb in the repository: "
    "chdb://$PWD/demo-out/chdb from the repository's folder; or make one with "
    "`greekstream replay events.jsonl --history chdb:///ABSOLUTE/DIR`"
)


def _require_store(target: Target) -> None:
    """A read-only command never creates an embedded store: chDB would make the directory
    (and its own subdirectories) on open, so a wrong path must fail before that."""
    path = Path(target.location)
    if not (path / "metadata").is_dir():
        what = "does not exist" if not path.exists() else "is not a chDB store"
        raise HistoryError(f"no greekstream history at {target}: {path} {what}",
                           hint=DEMO_STORE_HINT)


def _databases(client: Any) -> set[str]:
    return {r[0] for r in client.query("SELECT name FROM system.databases").result_rows}


def _client(module: Any, target: Target, database: str | None) -> Any:
    if target.embedded:
        return module.get_client(interface="chdb", path=target.location, database=database)
    parsed = urlparse(target.dsn)
    return module.get_client(
        host=parsed.hostname,
        port=parsed.port,
        username=unquote(parsed.username or "default"),
        password=unquote(parsed.password or ""),
        secure=parsed.scheme == "https",
        database=database,
        connect_timeout=5,
        send_receive_timeout=60,
    )
