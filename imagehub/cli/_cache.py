"""`imagehub cache list|verify|clear`: inspect the downloaded-model cache."""

from __future__ import annotations

import argparse
import json
import sys

from imagehub.cli import UsageError

HELP = "list, verify or clear the cache of downloaded models"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "cache",
        help=HELP,
        description=(
            "Inspect the cache that `imagehub.load` downloads models into "
            "(IMAGEHUB_CACHE_DIR, else TFHUB_CACHE_DIR, else "
            "~/.cache/imagehub)."
        ),
    )
    actions = parser.add_subparsers(
        dest="cache_action", metavar="ACTION", required=True
    )
    listing = actions.add_parser(
        "list", help="list cached models (checks file sizes)"
    )
    listing.add_argument(
        "--json", action="store_true", help="print JSON instead of a table"
    )
    verify = actions.add_parser(
        "verify", help="re-hash cached files against their manifests"
    )
    verify.add_argument(
        "handles", nargs="*", metavar="HANDLE", help="only these handles"
    )
    verify.add_argument(
        "--fix",
        action="store_true",
        help="delete damaged entries so the next load downloads them again",
    )
    clear = actions.add_parser("clear", help="delete cached models")
    clear.add_argument(
        "handles", nargs="*", metavar="HANDLE", help="only these handles"
    )
    clear.add_argument(
        "-y", "--yes", action="store_true", help="do not ask for confirmation"
    )


def run(args: argparse.Namespace) -> int:
    return {"list": _list, "verify": _verify, "clear": _clear}[
        args.cache_action
    ](args)


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _status(entry) -> str:
    return "ok" if entry.ok else "damaged: " + "; ".join(entry.problems[:2])


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from imagehub import hub

    entries = hub.list_cache()
    if args.json:
        rows = [
            {
                "handle": e.handle,
                "path": e.path,
                "size": e.size,
                "files": e.num_files,
                "created": e.created,
                "ok": e.ok,
                "problems": list(e.problems),
            }
            for e in entries
        ]
        print(json.dumps({"cache_dir": hub.cache_dir(), "entries": rows}))
        return 0
    console = Console()
    if not entries:
        console.print(f"No models cached in {hub.cache_dir()}", markup=False)
        return 0
    table = Table(title=f"imagehub cache: {hub.cache_dir()}")
    table.add_column("handle", overflow="fold", ratio=3)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("status", overflow="fold", ratio=1)
    for e in entries:
        table.add_row(
            e.handle,
            _megabytes(e.size),
            e.created[:16].replace("T", " "),
            _status(e),
        )
    console.print(table)
    total = sum(e.size for e in entries)
    console.print(
        f"{len(entries)} cached model(s), {_megabytes(total)}; each model "
        "is in <cache>/<entry>/model (`--json` lists the paths)",
        markup=False,
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from imagehub import hub
    from imagehub.cli._console import stderr_console

    console = Console()
    names = args.handles or None
    try:
        total = len(args.handles) if names else len(hub.list_cache())
        # On stderr with the logs, which it then keeps above itself.
        with Progress(console=stderr_console(), transient=True) as bar:
            task = bar.add_task("Verifying", total=total)
            results = hub.verify_cache(
                names,
                fix=args.fix,
                on_entry=lambda e: bar.advance(task),
            )
    except hub.HandleError as error:
        raise UsageError(str(error)) from None
    if not results:
        console.print(f"No models cached in {hub.cache_dir()}", markup=False)
        return 0
    damaged = [e for e in results if not e.ok]
    for e in results:
        mark = "ok" if e.ok else "DAMAGED"
        console.print(f"{mark:8} {e.handle}", markup=False)
        for problem in e.problems:
            console.print(f"         {problem}", markup=False)
    if not damaged:
        console.print(f"All {len(results)} entries verified.", markup=False)
        return 0
    if args.fix:
        console.print(
            f"Removed {len(damaged)} damaged entries; the next load "
            "downloads them again.",
            markup=False,
        )
        return 0
    console.print(
        f"{len(damaged)} of {len(results)} entries are damaged. Run "
        "`imagehub cache verify --fix` to remove them.",
        markup=False,
    )
    return 1


def _clear(args: argparse.Namespace) -> int:
    from imagehub import hub

    root = hub.cache_dir()
    targets = args.handles or None
    if not args.yes:
        what = (
            f"{len(args.handles)} cached model(s)"
            if targets
            else f"every model cached in {root}"
        )
        if not sys.stdin.isatty():
            raise UsageError(
                f"refusing to delete {what} without confirmation; pass --yes"
            )
        answer = input(f"Delete {what}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    try:
        removed = hub.clear_cache(targets)
    except hub.HandleError as e:
        raise UsageError(str(e)) from None
    print(f"Deleted {len(removed)} cached model(s) from {root}.")
    return 0
