"""`imagehub cache list|verify|clear|export|import`: the model cache."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from imagehub.cli import UsageError
from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_handles_argument
from imagehub.cli._args import add_json_argument

if TYPE_CHECKING:
    from imagehub.hub import CacheEntry

_T = TypeVar("_T")

HELP = "list, verify, clear, export or import cached models"
DESCRIPTION = """\
Inspect the cache that `imagehub.load` downloads models into
(IMAGEHUB_CACHE_DIR, else TFHUB_CACHE_DIR, else ~/.cache/imagehub).
"""


def add_parser(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "cache", HELP, DESCRIPTION)
    actions = parser.add_subparsers(
        dest="cache_action", metavar="ACTION", required=True
    )
    listing = actions.add_parser(
        "list", help="list cached models (checks file sizes)"
    )
    add_json_argument(listing, "print JSON instead of a table")
    verify = actions.add_parser(
        "verify", help="re-hash cached files against their manifests"
    )
    add_handles_argument(verify, "*", "only these handles")
    verify.add_argument(
        "--fix",
        action="store_true",
        help="delete damaged entries so the next load downloads them again",
    )
    clear = actions.add_parser("clear", help="delete cached models")
    add_handles_argument(clear, "*", "only these handles")
    clear.add_argument(
        "-y", "--yes", action="store_true", help="do not ask for confirmation"
    )
    export = actions.add_parser(
        "export",
        help="write models (downloaded if needed) to a bundle for offline "
        "machines",
    )
    add_handles_argument(export, "+", "the models to bundle")
    export.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="the bundle to write: a .tar (or .tar.gz) file",
    )
    importing = actions.add_parser(
        "import",
        help="verify a bundle and add its models to the cache",
    )
    importing.add_argument(
        "bundle", metavar="FILE", help="a bundle from `imagehub cache export`"
    )


def run(args: argparse.Namespace) -> int:
    actions = {
        "list": _list,
        "verify": _verify,
        "clear": _clear,
        "export": _export,
        "import": _import,
    }
    return actions[args.cache_action](args)


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _short(revision: str | None) -> str:
    # A 40-digit commit is told apart by its first 12, as git does.
    if revision is None:
        return "-"
    return revision[:12] if len(revision) == 40 else revision


def _status(entry: CacheEntry) -> str:
    return "ok" if entry.ok else "damaged: " + "; ".join(entry.problems[:2])


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from imagehub import hub

    entries = hub.list_cache()
    try:
        lockfile = hub.active_lockfile()
    except hub.HandleError as error:
        raise UsageError(str(error)) from None

    def pin(entry: CacheEntry) -> str:
        if lockfile is None:
            return "no lock file"
        return lockfile.status(entry.key, entry.sha256)

    if args.json:
        rows = [
            {
                "handle": e.handle,
                "source": e.source,
                "revision": e.revision,
                "sha256": e.sha256,
                "pin": pin(e),
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
    # Handles, paths and problems are printed as they are, never as markup.
    console = Console(markup=False)
    if not entries:
        console.print(f"No models cached in {hub.cache_dir()}")
        return 0
    table = Table(title=f"imagehub cache: {hub.cache_dir()}")
    table.add_column("handle", overflow="fold", ratio=3)
    table.add_column("source", overflow="fold", ratio=3)
    table.add_column("version", overflow="fold", ratio=1)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("pin", overflow="fold", ratio=1)
    table.add_column("status", overflow="fold", ratio=1)
    for entry in entries:
        table.add_row(
            entry.handle,
            entry.source,
            _short(entry.revision),
            _megabytes(entry.size),
            entry.created[:16].replace("T", " "),
            pin(entry),
            _status(entry),
        )
    console.print(table)
    total = sum(e.size for e in entries)
    console.print(
        f"{len(entries)} cached model(s), {_megabytes(total)}; each model "
        "is in <cache>/<entry>/model (`--json` lists the paths)"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from imagehub import hub
    from imagehub.cli._console import stderr_console

    # Handles, paths and problems are printed as they are, never as markup.
    console = Console(markup=False)
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
        console.print(f"No models cached in {hub.cache_dir()}")
        return 0
    damaged = [e for e in results if not e.ok]
    for e in results:
        mark = "ok" if e.ok else "DAMAGED"
        console.print(f"{mark:8} {e.handle}")
        for problem in e.problems:
            console.print(f"         {problem}")
    if not damaged:
        console.print(f"All {len(results)} entries verified.")
        return 0
    if args.fix:
        console.print(
            f"Removed {len(damaged)} damaged entries; the next load "
            "downloads them again."
        )
        return 0
    console.print(
        f"{len(damaged)} of {len(results)} entries are damaged. Run "
        "`imagehub cache verify --fix` to remove them."
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
    # Counted first: clear_cache deletes them with everything else.
    compiled = _compiled_models() if targets is None else None
    try:
        removed = hub.clear_cache(targets)
    except hub.HandleError as e:
        raise UsageError(str(e)) from None
    what = f"{len(removed)} cached model(s)"
    if compiled is not None:
        models, size = compiled
        what += (
            f" and the compiled engine models of {models} SavedModel(s) "
            f"({_megabytes(size)})"
        )
    print(f"Deleted {what} from {root}.")
    return 0


def _compiled_models() -> tuple[int, int] | None:
    """(SavedModels with compiled engine models, bytes on disk), or None
    when there are none. `imagehub.engines` keeps one folder per
    SavedModel's content in `hub.compiled_models_dir()`."""
    from imagehub import hub

    root = hub.compiled_models_dir()
    if not os.path.isdir(root):
        return None
    models = [e for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    size = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                size += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue  # removed meanwhile
    return len(models), size


def call_hub(command: str, function: Callable[..., _T], *args: Any) -> _T:
    """Calls a hub function for a CLI command: a bad handle is a usage
    error (exit 2), another hub error is printed without a traceback and
    exits 1."""
    from imagehub import hub

    try:
        return function(*args)
    except hub.HandleError as e:
        raise UsageError(str(e)) from None
    except hub.HubError as e:
        print(f"imagehub {command}: {e}", file=sys.stderr)
        raise SystemExit(1) from None


def _export(args: argparse.Namespace) -> int:
    from imagehub import hub

    items = call_hub("cache export", hub.export_bundle, args.handles, args.out)
    for item in items:
        print(f"{item.handle} -> {item.resolved} sha256:{item.sha256}")
    print(f"Wrote {len(items)} model(s) to {args.out}.")
    return 0


def _import(args: argparse.Namespace) -> int:
    from imagehub import hub

    items = call_hub("cache import", hub.import_bundle, args.bundle)
    for item in items:
        state = "imported" if item.imported else "already cached"
        print(f"{state:14} {item.handle} -> {item.resolved}")
    print(
        f"{len(items)} model(s) verified from {args.bundle} into "
        f"{hub.cache_dir()}."
    )
    return 0
