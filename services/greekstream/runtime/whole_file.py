"""Files written whole or not at all: reports, figures, samples, returns files.

    with replacing(path) as out:      # a binary file object
        out.write(...)
    write_whole(path, data)           # the same for bytes in hand

One rule for every file the commands write (the private key and token files are
``private_file``'s):

- A regular file, or a new one, is written to a temporary sibling ``.NAME.PID.tmp``, made
  durable (fsync) and renamed over ``path``. A reader never sees half a file, and a
  write that fails partway (a full disk, an error building the content, Ctrl-C) leaves
  the previous file as it was and no temporary behind.
- A file that is replaced keeps its permissions (a new file gets the umask's, as
  ``open`` would give it).
- A symbolic link keeps pointing where it did: the file it names is replaced.
- Anything else (``/dev/stdout``, a pipe) is written in place: renaming over it would
  replace the device or the pipe's name.

Errors are ``OSError`` as ``open`` raises them; the caller says what could not be
written, with a hint.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def replacing(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file object whose content replaces ``path`` when the block ends without
    an exception; see the module's docstring for the rules."""
    target = Path(path)
    mode = None  # an existing file's permissions, which the new file keeps
    try:
        st = target.stat()  # (through a link)
        regular, mode = stat.S_ISREG(st.st_mode), stat.S_IMODE(st.st_mode)
    except FileNotFoundError:
        regular = True
    if not regular:
        with target.open("wb") as out:
            yield out
        return
    if target.is_symlink():  # the file it names is replaced, not the link
        target = Path(os.path.realpath(target))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            tmp.chmod(mode)
        tmp.replace(target)
    except BaseException:  # a KeyboardInterrupt too: no temporary is left behind
        tmp.unlink(missing_ok=True)
        raise


def write_whole(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, whole or not at all."""
    with replacing(path) as out:
        out.write(data)
