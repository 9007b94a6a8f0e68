"""`imagehub lock HANDLE...`: pin models' content for deployment."""

from __future__ import annotations

import argparse
import sys

from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_handles_argument

HELP = "pin handles to their resolved version and content SHA-256"
DESCRIPTION = """\
Resolve and download each handle, then print a lock file: the version or
commit each resolved to and the SHA-256 of its content. With the file in
IMAGEHUB_LOCKFILE (or saved as ./imagehub.lock), load and resolve use the
pinned versions and refuse content that differs.

example:
  imagehub lock \\
    kaggle:google/mobilenet-v3/tensorFlow2/small-100-224-feature-vector \\
    hf://me/model > imagehub.lock
"""


def add_parser(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "lock", HELP, DESCRIPTION)
    add_handles_argument(parser, "+", "handles to pin")
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="write the lock file here (atomically) instead of to stdout",
    )


def run(args: argparse.Namespace) -> int:
    from imagehub import hub
    from imagehub import outputs
    from imagehub.cli._cache import call_hub

    pins = call_hub("lock", hub.lock, args.handles)
    text = hub.lockfile_text(pins)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    # A lock file is regenerated, not accumulated: it replaces the old one.
    with outputs.atomic_file(args.out, overwrite=True) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    print(f"Pinned {len(pins)} model(s) in {args.out}", file=sys.stderr)
    return 0
