"""`greekstream serve`: the historical analytics query service (HTTP, JSON and CSV)."""

from __future__ import annotations

import argparse
import logging

from pydantic import SecretStr, ValidationError

from greekstream.api.tokens import load_tokens
from greekstream.commands._common import port
from greekstream.errors import ConfigError
from greekstream.history.client import connect
from greekstream.settings import ServeSettings

HELP = "serve exposure analytics from ClickHouse history over HTTP (bearer tokens per desk)"
EXAMPLES = """  GREEKSTREAM_TOKENS_FILE=tokens.yaml greekstream serve --dsn chdb:///tmp/gs
  curl -H "Authorization: Bearer $TOKEN" \\
      'localhost:8000/v1/books/desk-a/timeseries?bucket=1h&format=csv'
  open 'http://localhost:8000/#book=desk-a'     # the chart page: paste the token to sign in
  greekstream serve --host 0.0.0.0 --port 8000  # every interface (default: loopback only)
  tokens.yaml:  {"3f9c...long-random...": ["desk-a", "desk-b"], "9ab1...": "*"}
  a key "sha256:<hex of sha256(token)>" keeps the token itself out of the file
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dsn", help="ClickHouse DSN (default: GREEKSTREAM_CLICKHOUSE_DSN)")
    p.add_argument("--host", help="listen address (default: 127.0.0.1, loopback only; "
                                  "0.0.0.0 for every interface, as the chart and compose set)")
    p.add_argument("--port", type=port, help="listen port (default: 8000)")
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
    if http:  # validated (model_copy would not check the port's range)
        try:
            changes["http"] = type(base.http).model_validate({**base.http.model_dump(), **http})
        except ValidationError as exc:
            raise ConfigError(f"bad --host/--port: {exc.errors()[0]['msg']}") from None
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
