"""`greekstream keygen PATH`: an Ed25519 key pair for signing end-of-day reports."""

from __future__ import annotations

import argparse

from greekstream.reports.signing import keygen

HELP = "write an Ed25519 key pair: PATH (private, mode 0600) and PATH.pub (public)"
EXAMPLES = """  greekstream keygen gs-key            # gs-key (private, 0600) and gs-key.pub, here
  greekstream keygen gs-key --force    # --force: replace an existing pair
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="where to write the private key (PATH.pub too)")
    p.add_argument("--force", action="store_true", help="overwrite an existing key pair")


def run(args: argparse.Namespace) -> int:
    private, public = keygen(args.path, overwrite=args.force)
    print(f"private key: {private}\npublic key:  {public}")
    return 0
