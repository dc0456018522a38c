"""`greekstream keygen PATH`: an Ed25519 key pair for signing end-of-day reports."""

from __future__ import annotations

import argparse
import errno

from greekstream.errors import UsageError
from greekstream.reports.signing import keygen

HELP = "write an Ed25519 key pair: PATH (private, mode 0600) and PATH.pub (public)"
EXAMPLES = """  greekstream keygen gs-key            # gs-key (private, 0600) and gs-key.pub, here
  greekstream keygen gs-key --force    # --force: replace an existing pair
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="where to write the private key (PATH.pub too)")
    p.add_argument("--force", action="store_true", help="overwrite an existing key pair")


def run(args: argparse.Namespace) -> int:
    try:
        private, public = keygen(args.path, overwrite=args.force)
    except OSError as exc:  # a PATH the system cannot look up (a name too long, ...):
        # refused by the checks before either file is written
        long = exc.errno == errno.ENAMETOOLONG
        raise UsageError(
            f"cannot write key {exc.filename or args.path}: {exc.strerror or exc}",
            hint="choose a shorter PATH (its file name and PATH.pub's within the file "
                 "system's limit, often 255 bytes)" if long else "choose another PATH",
        ) from exc
    print(f"private key: {private}\npublic key:  {public}")
    return 0
