"""`imagehub compare`: which model for my images, measured on my images."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from collections.abc import Iterator
from typing import TYPE_CHECKING

from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_json_argument
from imagehub.cli._args import add_overwrite_argument
from imagehub.compare import DEFAULTS
from imagehub.engines import ENGINE_CHOICES
from imagehub.spec import RESIZE_MODES

if TYPE_CHECKING:
    from rich.table import Table

    from imagehub.compare import CompareEvent
    from imagehub.compare import CompareResult

HELP = "which model for my images: accuracy and speed, measured"

DESCRIPTION = """\
Compare image feature-vector models on a folder of labelled images (one
subfolder per class): linear-probe accuracy (retrain's head recipe,
stratified k-fold cross-validation on cached features), kNN accuracy on
the same folds, paired bootstrap intervals (ties marked), features per
second, size on disk, feature width, input size and license. Writes
compare.json and report.html into --out, and prints the retrain command
for the winner, which reuses the features compare cached.

example:
  imagehub compare --image_dir photos --model mnv1_fv --model mnv3_fv \\
    --out compare_out
"""


def add_parser(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "compare", HELP, DESCRIPTION)
    parser.add_argument(
        "--image_dir",
        required=True,
        help="a folder with one subfolder of images per class",
    )
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="HANDLE",
        help="a feature-vector model (folder, URL or hub handle); repeat "
        "for each model to compare",
    )
    parser.add_argument(
        "--engine",
        default=DEFAULTS.engine,
        choices=ENGINE_CHOICES,
        help="engine whose features per second are reported (TensorFlow's "
        "are reported too); default: %(default)s",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder for compare.json, report.html and the plot (feature "
        "caches go to <out>_cache); default: print only",
    )
    parser.add_argument(
        "--cache_dir",
        default=None,
        help="folder of the per-model feature caches (retrain checkpoint "
        "folders); default: <out>_cache",
    )
    add_json_argument(
        parser, "print compare.json's content instead of the table"
    )
    # Whole numbers, each defaulting to its field of compare's DEFAULTS.
    for name, help in (
        (
            "max_images_per_class",
            "use at most this many images of each class (a fast first look; "
            "retrain on the whole folder then computes its own features)",
        ),
        ("folds", "cross-validation folds; default: %(default)s"),
        (
            "seed",
            "seed of the folds, heads and bootstrap, the same for every "
            "model; default: %(default)s",
        ),
        ("batch_size", "images per batch; default: %(default)s"),
    ):
        parser.add_argument(
            f"--{name}", type=int, default=getattr(DEFAULTS, name), help=help
        )
    parser.add_argument(
        "--resize",
        default=DEFAULTS.resize,
        choices=RESIZE_MODES,
        help="how images reach each model's size; default: %(default)s",
    )
    add_overwrite_argument(parser, "the --out folder")


def _check_args(args: argparse.Namespace) -> None:
    from imagehub.cli import UsageError

    for flag, low in (("folds", 2), ("batch_size", 1)):
        if getattr(args, flag) < low:
            raise UsageError(
                f"--{flag} {getattr(args, flag)}: expected an integer >= {low}"
            )
    if args.max_images_per_class is not None and args.max_images_per_class < 1:
        raise UsageError(
            f"--max_images_per_class {args.max_images_per_class}: expected "
            "an integer >= 1"
        )


@contextlib.contextmanager
def _progress(
    models: list[str],
) -> Iterator[Callable[[CompareEvent], None]]:
    """One live line per model on stderr: its stage and a bar."""
    from rich.progress import BarColumn
    from rich.progress import MofNCompleteColumn
    from rich.progress import Progress
    from rich.progress import TextColumn
    from rich.progress import TimeElapsedColumn

    from imagehub.cli._console import stderr_console

    names = {
        "load": "loading",
        "features": "features",
        "probe": "probe folds",
        "speed": "timing",
        "done": "done",
        "failed": "FAILED",
    }
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
    ) as bar:
        tasks = [
            bar.add_task(f"{m[-40:]}: waiting", total=None) for m in models
        ]

        def progress(event: CompareEvent) -> None:
            task = tasks[event.position]
            description = f"{event.model[-40:]}: {names[event.stage]}"
            if event.stage in ("done", "failed"):
                bar.update(task, description=description, total=1, completed=1)
                return
            bar.update(
                task,
                description=description,
                total=event.total or None,
                completed=event.done,
            )

        yield progress


def short_names(handles: list[str]) -> list[str]:
    """Each handle's last path part, or the whole handle where two would
    read the same."""
    short = [
        h.rstrip("/\\").replace("\\", "/").split("/")[-1] or h for h in handles
    ]
    return [
        s if short.count(s) == 1 else h
        for s, h in zip(short, handles, strict=True)
    ]


def _table(result: CompareResult) -> Table:
    from rich.table import Table

    from imagehub.compare import gap_text
    from imagehub.compare import human_size
    from imagehub.compare import rank_labels

    k = int(result.folds.max()) + 1
    table = Table(
        title=f"{len(result.paths)} images, {len(result.class_names)} "
        f"classes, {k}-fold cross-validation",
        padding=(0, 1),
    )
    for name in (
        "#",
        "model",
        "probe",
        "kNN",
        "gap [95% CI]",
        "feat/s",
        "size",
        "dim",
        "input",
        "license",
    ):
        table.add_column(
            name,
            justify="left" if name in ("model", "license") else "right",
            overflow="fold",
        )
    names = short_names([s.handle for s in result.scores])
    for rank, name, s in zip(
        rank_labels(result.scores), names, result.scores, strict=True
    ):
        if not s.ok or s.probe is None or s.knn is None:
            table.add_row("-", name, "[red]failed")
            continue
        gap = gap_text(s)
        table.add_row(
            rank,
            name,
            f"{100 * s.probe.mean:.1f}±{100 * s.probe.spread:.1f}",
            f"{100 * s.knn.mean:.1f}±{100 * s.knn.spread:.1f}",
            gap,
            f"{s.features_per_second:.0f}",
            human_size(s.size_bytes),
            str(s.num_features),
            f"{s.image_size[0]}",
            # The SPDX-like head; the card's full text is in the report.
            (s.license or "-").split(" (")[0],
        )
    return table


def _print_text(result: CompareResult) -> None:
    from rich.console import Console

    out = Console()
    out.print(_table(result))
    engines = sorted({s.engine for s in result.scores if s.ok})
    out.print(
        "probe, kNN: accuracy in %, mean ± std over the folds. gap: the "
        "best model's probe accuracy minus this one's, in points, with its "
        "paired bootstrap interval; '=1' and 'tie': the data cannot tell "
        f"it from the best. feat/s: features per second ({', '.join(engines)})."
        " input: image side in pixels.",
        soft_wrap=False,
    )
    for s in result.scores:
        if not s.ok:
            out.print(f"[red]not compared[/red] {s.handle}: {s.error}")
    if result.retrain_command:
        note = (
            "reuses its cached features"
            if result.reuses_cache
            else "computes the features of the whole folder"
        )
        out.print(f"Retrain with the winner ({note}):")
        out.print(f"  {result.retrain_command}", soft_wrap=True)
    for kind, path in result.outputs.items():
        out.print(f"{kind} written to {path}")


def run(args: argparse.Namespace) -> int:
    import json

    from imagehub.cli._args import usage_errors
    from imagehub.compare import CompareError
    from imagehub.compare import compare

    _check_args(args)
    try:
        with (
            usage_errors(CompareError, FileExistsError),
            _progress(args.model) as progress,
        ):
            result = compare(
                args.image_dir,
                args.model,
                out=args.out,
                engine=args.engine,
                folds=args.folds,
                seed=args.seed,
                max_images_per_class=args.max_images_per_class,
                cache_dir=args.cache_dir,
                batch_size=args.batch_size,
                resize=args.resize,
                overwrite=args.overwrite,
                progress=progress,
            )
    except ValueError as e:
        print(f"imagehub compare: error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_text(result)
    return 0 if result.winner is not None else 1
