"""Running `greekstream ...` in the test process."""

from __future__ import annotations

import gc
import io
from contextlib import redirect_stderr, redirect_stdout

from greekstream.cli import main


def run(*args: str) -> tuple[int, str, str]:
    """`greekstream ARGS...` in this process: (exit code, stdout, stderr)."""
    out, err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.StringIO()
    thresholds = gc.get_threshold()  # main() sets the collector for a run; not for pytest
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
            out.flush()
    finally:
        gc.set_threshold(*thresholds)
    return code, out.buffer.getvalue().decode(), err.getvalue()
