"""`imagehub check`: conformance report and safety scan of a SavedModel."""

from __future__ import annotations

import argparse
import sys

from imagehub.cli import parse_image_size_flag
from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_json_argument
from imagehub.spec import TASKS

HELP = "check a SavedModel against the image API, rule by rule"
DESCRIPTION = """\
Scans a SavedModel's graph without loading it (every op must be on
imagehub's allowlist; --trust skips the refusal), then loads it and probes
every rule of the reusable image API (docs/spec.md; imagehub.spec.RULES).
Exit status: 0 conforming, 1 some rule fails, 2 refused by the scan, not
loadable, or bad usage.
"""


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(subparsers, "check", HELP, DESCRIPTION)
    p.add_argument(
        "model",
        metavar="PATH_OR_HANDLE",
        help="SavedModel directory or model handle",
    )
    p.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="task to check against (default: the model card's, else inferred)",
    )
    p.add_argument(
        "--image_size",
        metavar="H,W",
        default=None,
        help="probe size (default: the card's default size, else the "
        "traces' fixed size, else 224,224)",
    )
    add_json_argument(p, "print the report as one JSON object")
    p.add_argument(
        "--trust",
        action="store_true",
        help="load and probe the model even if the scan refuses it",
    )


def run(args: argparse.Namespace) -> int:
    size = parse_image_size_flag(args.image_size)
    from rich.console import Console
    from rich.markup import escape

    from imagehub.check import check
    from imagehub.cli._console import stderr_console

    err = stderr_console()
    if args.json:
        report = check(
            args.model, task=args.task, image_size=size, trust=args.trust
        )
        sys.stdout.write(report.to_json() + "\n")
        return report.exit_code
    with err.status("scanning and loading...") as status:

        def progress(rule: str) -> None:
            status.update(f"probing {rule}...")

        report = check(
            args.model,
            task=args.task,
            image_size=size,
            trust=args.trust,
            progress=progress,
        )
    out = Console()
    if report.scan is not None:
        out.print(report.scan.summary())
        for f in report.scan.findings:
            out.print(
                f"  [red]{escape(f.op)}[/red] {escape(f.reason)}: "
                f"{escape(f.where)}",
                highlight=False,
            )
    if report.results:
        out.print(report.rich_table())
    for note in report.notes:
        out.print(f"note: {escape(note)}", highlight=False)
    colour = "green" if report.conforming else "red"
    out.print(f"[bold {colour}]{escape(report.summary())}[/]", highlight=False)
    return report.exit_code
