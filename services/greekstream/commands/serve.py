"""`greekstream serve`: the historical analytics query service (HTTP, JSON and CSV)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

from pydantic import SecretStr, ValidationError

from greekstream.api.tokens import load_tokens
from greekstream.commands._common import load_settings, port
from greekstream.errors import ConfigError
from greekstream.history.client import connect
from greekstream.runtime.private_file import ensure_writable, write_private
from greekstream.settings import ServeSettings

HELP = "serve exposure analytics from ClickHouse history over HTTP (bearer tokens per desk)"
EXAMPLES = """  greekstream serve --dsn chdb://$PWD/demo-out/chdb --host 127.0.0.1 \\
      --new-token demo-out/token
  greekstream serve --dsn chdb://$PWD/gs --tokens-file tokens.yaml --port 8001
  GREEKSTREAM_TOKENS_FILE=tokens.yaml greekstream serve \\
      --dsn http://default:secret@clickhouse:8123/greekstream
  curl -H "Authorization: Bearer $(cat demo-out/token.txt)" \\
      'http://127.0.0.1:8000/v1/books/desk-a/timeseries?bucket=1h&format=csv'
then open http://127.0.0.1:8000/ and enter the token (the page keeps it for the tab only).
  greekstream serve --dsn chdb://$PWD/gs --tokens-file tokens.yaml --host 0.0.0.0  # all interfaces
tokens.yaml:  {"3f9c...long-random...": ["desk-a", "desk-b"], "9ab1...": "*"}
a key "sha256:<hex of sha256(token)>" keeps the token itself out of the file
--new-token FILE writes FILE (a tokens file, {TOKEN: "*"}) and FILE.txt (the token alone),
both readable by you only, with a fresh random token, and serves with it.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dsn", help="ClickHouse DSN (default: GREEKSTREAM_CLICKHOUSE_DSN)")
    p.add_argument("--host", help="listen address (default: 127.0.0.1, loopback only; "
                                  "0.0.0.0 for every interface, as the chart and compose set)")
    p.add_argument("--port", type=port, help="listen port (default: 8000)")
    p.add_argument("--tokens-file", help="YAML/JSON {token: [books] | '*'}")
    p.add_argument("--new-token", metavar="FILE",
                   help="generate a fresh token for every book, write it to FILE (tokens "
                        "file) and FILE.txt (the token), and serve with it")


def settings_from(args: argparse.Namespace) -> ServeSettings:
    base = load_settings(ServeSettings, "serve")
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


def new_token(path: str) -> str:
    """A fresh random token for every book in ``path`` ({TOKEN: "*"}) and ``path``.txt."""
    import json
    import secrets

    token = secrets.token_urlsafe(32)
    files = ((path, json.dumps({token: "*"}) + "\n"), (path + ".txt", token + "\n"))
    ensure_writable([Path(f) for f, _ in files], what="the token file",  # both, or neither
                    given_by="--new-token FILE")
    for target, text in files:
        write_private(target, text.encode(), what="the token file", given_by="--new-token FILE")
    return token


def run(args: argparse.Namespace) -> int:
    if args.new_token and args.tokens_file:
        raise ConfigError("give --tokens-file or --new-token, not both")
    if args.new_token:
        new_token(args.new_token)
        args.tokens_file = args.new_token
    started: list[bool] = []  # once the server runs, its token files are in use
    try:
        return _serve(args, started)
    except BaseException:
        if args.new_token and not started:  # a token for a server that never ran
            for path in (args.new_token, args.new_token + ".txt"):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        raise


def _serve(args: argparse.Namespace, started: list[bool]) -> int:
    import uvicorn

    from greekstream.api.app import create_app
    from greekstream.kafka.ops import json_logging
    from greekstream.settings import engine_settings

    settings = settings_from(args)
    engine = engine_settings()  # the processors' (GREEKSTREAM_ENGINE__*): replays use them
    json_logging(settings.log_level)
    inline = settings.tokens_json.get_secret_value() if settings.tokens_json else None
    scopes = load_tokens(settings.tokens_file, inline)
    with connect(settings.clickhouse_dsn.get_secret_value()) as history:
        app = create_app(history, scopes, settings.queries, engine)
        # bound here, so the address printed is the one listened on (--port 0: a free one)
        sock = listen(settings.http.host, settings.http.port)
        bound = sock.getsockname()[1]
        host = "127.0.0.1" if settings.http.host in ("0.0.0.0", "::") else settings.http.host
        host = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
        where = f"{args.new_token}.txt" if args.new_token else "your tokens file"
        print(f"greekstream serve: open http://{host}:{bound}/ and enter the "
              f"token from {where}", file=sys.stderr, flush=True)
        # log_config=None: uvicorn's own loggers go through the JSON handler too
        server = uvicorn.Server(uvicorn.Config(app, log_level=settings.log_level.lower(),
                                               log_config=None))
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again
        # for the handler it found: a graceful stop ends with status 0, not -15
        before = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            started.append(True)
            with contextlib.suppress(_Stopped):
                server.run(sockets=[sock])
        finally:  # a second signal while the store closes acts as it did before
            for sig, handler in before.items():
                signal.signal(sig, handler)
    return 0


class _Stopped(Exception):
    pass


def _stopped(_sig: int, _frame: object) -> None:
    raise _Stopped


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (the host's first address: a name such as
    ``localhost`` resolves to one, IPv4 or IPv6)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}",
                          hint="check --host (an address or a name this machine resolves)"
                          ) from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}",
                          hint="choose another --port (0 picks a free one)") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
