"""`greekstream serve`: the historical analytics query service (HTTP, JSON and CSV)."""

from __future__ import annotations

import argparse
import logging

from pydantic import SecretStr, ValidationError

from greekstream.api.tokens import load_tokens
from greekstream.errors import ConfigError
from greekstream.history.client import connect
from greekstream.settings import ServeSettings

HELP = "serve exposure analytics from ClickHouse history over HTTP (bearer tokens per desk)"
EXAMPLES = """  GREEKSTREAM_TOKENS_FILE=tokens.yaml greekstream serve --dsn chdb:///tmp/gs
  curl -H "Authorization: Bearer $TOKEN" \\
      'localhost:8000/v1/books/desk-a/timeseries?bucket=1h&format=csv'
  open http://localhost:8000/#token=$TOKEN&book=desk-a     # the chart page
  tokens.yaml:  {"3f9c...long-random...": ["desk-a", "desk-b"], "9ab1...": "*"}
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dsn", help="ClickHouse DSN (default: GREEKSTREAM_CLICKHOUSE_DSN)")
    p.add_argument("--host", help="listen address (default: 0.0.0.0)")
    p.add_argument("--port", type=int, help="listen port (default: 8000)")
    p.add_argument("--tokens-file", help="YAML/JSON {token: [books] | '*'}")


def settings_from(args: argparse.Namespace) -> ServeSettings:
    try:
        base = ServeSettings()
    except ValidationError as exc:
        raise ConfigError(f"bad serve settings: {exc}") from exc
    changes: dict[str, object] = {}
    if args.dsn:
        changes["clickhouse_dsn"] = SecretStr(args.dsn)
    if args.tokens_file:
        changes["tokens_file"] = args.tokens_file
    http = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if http:
        changes["http"] = base.http.model_copy(update=http)
    return base.model_copy(update=changes)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from greekstream.api.app import create_app

    settings = settings_from(args)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(message)s")
    inline = settings.tokens_json.get_secret_value() if settings.tokens_json else None
    scopes = load_tokens(settings.tokens_file, inline)
    with connect(settings.clickhouse_dsn.get_secret_value()) as history:
        app = create_app(history, scopes)
        uvicorn.run(app, host=settings.http.host, port=settings.http.port,
                    log_level=settings.log_level.lower())
    return 0
