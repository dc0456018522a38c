"""Running `greekstream ...` in the test process."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

from greekstream.cli import main


def run(*args: str) -> tuple[int, str, str]:
    """`greekstream ARGS...` in this process: (exit code, stdout, stderr)."""
    out, err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
        out.flush()
    return code, out.buffer.getvalue().decode(), err.getvalue()
