"""`imagehub bench`: images/s of each engine on one model, side by side."""

from __future__ import annotations

import argparse
import json

from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_json_argument
from imagehub.engines import ENGINES
from imagehub.engines import PRECISIONS

HELP = "images/s of each inference engine on a model, side by side"
DESCRIPTION = """\
Compiles MODEL for each engine (each checked against TensorFlow), then times
them in one process: interleaved rounds on the same batch, median per
engine. Prints images/s, the ratio to TensorFlow, the parity (or int8
agreement) figure and the machine line: the numbers to choose --engine by.
"""


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(subparsers, "bench", HELP, DESCRIPTION)
    p.add_argument("model", metavar="MODEL", help="model handle or path")
    p.add_argument(
        "--engines",
        default=",".join(ENGINES),
        metavar="E1,E2",
        help="comma-separated engines to compare; TensorFlow is always "
        f"measured, as the baseline (choices: {', '.join(ENGINES)}; "
        "default: %(default)s)",
    )
    p.add_argument(
        "--batch_size",
        type=int,
        default=32,
        help="images per timed call (default: %(default)s)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=PRECISIONS[0],
        help="int8: LiteRT post-training quantization calibrated on "
        "generated images, its agreement with the float model reported "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="timed calls per engine, interleaved (default: %(default)s)",
    )
    p.add_argument(
        "--image_size",
        metavar="H,W",
        help="input size (default: the model card's)",
    )
    add_json_argument(p, "print the result as JSON instead of a table")


def parse_engines(text: str) -> tuple[str, ...]:
    """'litert,openvino' -> ('litert', 'openvino'); UsageError if unknown."""
    from imagehub.cli import UsageError

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in ENGINES]
    if unknown or not names:
        raise UsageError(
            f"--engines {text!r}: unknown engine(s) {unknown}; expected a "
            f"comma-separated list of {', '.join(ENGINES)}"
        )
    return names


def _figure(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def run(args: argparse.Namespace) -> int:
    from imagehub.cli import UsageError
    from imagehub.cli import parse_image_size_flag
    from imagehub.cli._args import usage_errors
    from imagehub.engines import benchmark

    names = parse_engines(args.engines)
    if args.batch_size < 1 or args.rounds < 1:
        raise UsageError(
            f"--batch_size {args.batch_size} and --rounds {args.rounds} "
            "must be at least 1"
        )
    with usage_errors(ValueError, FileNotFoundError):
        result = benchmark(
            args.model,
            engines=names,
            batch_size=args.batch_size,
            precision=args.precision,
            rounds=args.rounds,
            image_size=parse_image_size_flag(args.image_size),
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    height, width = result.image_size
    print(
        f"{result.model}: batch {result.batch_size}, {height}x{width}, "
        f"median of {result.rounds} interleaved rounds"
    )
    header = ("engine", "precision", "images/s", "vs TensorFlow", "check")
    table = [header] + [
        (
            row.engine,
            row.precision,
            _figure(row.images_per_second, ".1f"),
            _figure(row.vs_tensorflow, ".2f")
            + ("x" if row.vs_tensorflow else ""),
            row.check,
        )
        for row in result.rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    for line in table:
        cells = [
            cell.ljust(width)
            for cell, width in zip(line[:4], widths, strict=True)
        ]
        print("  ".join([*cells, line[4]]))
    print(f"machine: {result.machine}")
    return 0
