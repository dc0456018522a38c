"""A stored-records read that stops early ends at once over HTTP too (history/replay_io.py
``abandon``): clickhouse-connect's close of an HTTP result stream reads the rest of the
response, so a replay that hit its spool limit or deadline waited for the whole result.

The server is a real HTTP/1.1 socket server sending a chunked result slowly (as ClickHouse
streams a large one); the stream is clickhouse-connect's own ResponseSource over urllib3.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import urllib3
from clickhouse_connect.driver.common import StreamContext
from clickhouse_connect.driver.httputil import ResponseSource

from greekstream.history.replay_io import iter_raw

pytestmark = pytest.mark.timeout(60)

CHUNKS, PAUSE_S = 40, 0.1  # a 4 s result, 1 MiB a chunk


class _SlowResult(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(CHUNKS):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                time.sleep(PAUSE_S)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away: what the abandoned read should cause
            self.server.aborted.set()  # type: ignore[attr-defined]

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowResult)
    server.aborted = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _history_over(server: http.server.ThreadingHTTPServer) -> Any:
    """A History whose client answers the replay query with the slow HTTP result, one row
    per chunk read (what clickhouse-connect's row stream does over its ResponseSource)."""
    def query_rows_stream(*_args: Any, **_kwargs: Any) -> StreamContext:
        response = urllib3.PoolManager().request(
            "GET", f"http://127.0.0.1:{server.server_port}/", preload_content=False)
        source = ResponseSource(response)
        return StreamContext(source, ((b'{"type":"tick"}', "s") for _chunk in source.gen))

    return SimpleNamespace(target="http://test", client=SimpleNamespace(
        query_rows_stream=query_rows_stream))


def test_a_read_stopped_early_ends_without_reading_the_rest(
        slow_server: http.server.ThreadingHTTPServer) -> None:
    records = iter_raw(_history_over(slow_server))
    assert next(records) == (b'{"type":"tick"}', "s")
    t = time.monotonic()
    records.close()  # the spool limit or the deadline: the reader gives up
    took = time.monotonic() - t
    assert took < 1.0, f"closing the read took {took:.1f} s: it drained the result"
    assert slow_server.aborted.wait(10), "the server kept sending: the query was not stopped"  # type: ignore[attr-defined]


def test_a_read_to_the_end_is_unchanged(slow_server: http.server.ThreadingHTTPServer) -> None:
    rows = list(iter_raw(_history_over(slow_server)))
    assert len(rows) >= CHUNKS  # every chunk (the source may split them further)
    assert not slow_server.aborted.is_set()  # type: ignore[attr-defined]
