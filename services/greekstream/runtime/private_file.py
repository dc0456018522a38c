"""Files only their owner may read (mode 0600): the signing key of `greekstream keygen` and
the token files of `greekstream serve --new-token`.

    write_private(path, data, what="key", given_by="PATH")

One way to write them, and one way to say that a place cannot be written: a UsageError
naming the file and the reason, with a hint (create the directory, it is a directory,
choose a place you can write to).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from greekstream.errors import UsageError


def write_private(path: str | Path, data: bytes, *, what: str, given_by: str) -> Path:
    """Write ``data`` to ``path``, readable and writable by its owner only; a file already
    there is replaced and made private too (``os.open``'s mode applies to a new file only).
    ``what`` names the file in the error ("key"), ``given_by`` the argument that named the
    path in its hint ("PATH"); the caller decides whether an existing file may be replaced."""
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, 0o600)  # before the old content goes: a refusal leaves it as it was
            handle.truncate()
            handle.write(data)
    except OSError as exc:
        raise cannot_write(target, exc, what=what, given_by=given_by) from exc
    return target


def ensure_writable(paths: list[Path], *, what: str, given_by: str) -> None:
    """Refuse, before anything is written, files that could not be: a directory in the
    way, a missing directory, one the user may not write. Commands that write several
    files (a key pair, a token and its text copy) check them all first, so a refusal
    leaves none of them half made."""
    for path in paths:
        code = (errno.EISDIR if path.is_dir() else
                errno.ENOENT if not path.parent.is_dir() else
                errno.EACCES if not os.access(path if path.exists() else path.parent,
                                              os.W_OK) else None)
        if code is not None:
            exc = OSError(code, os.strerror(code), str(path))
            raise cannot_write(path, exc, what=what, given_by=given_by)


def cannot_write(path: Path, exc: OSError, *, what: str, given_by: str) -> UsageError:
    """The error for a file at ``path`` that could not be written (``exc``), with a hint."""
    name = exc.filename or path
    folder = path.parent
    if not folder.is_dir():
        hint = f"create the directory first (mkdir -p {folder}) or choose another {given_by}"
    elif isinstance(exc, IsADirectoryError):  # (OSError(EISDIR, ...) makes one too)
        hint = f"{name} is a directory: give {given_by} a file name in it"
    else:
        hint = f"choose a {given_by} in a directory you can write to ({folder} is not)"
    return UsageError(f"cannot write {what} {name}: {exc.strerror}", hint=hint)
