"""`imagehub embed`: feature vectors for many images, locally or on Beam."""

from __future__ import annotations

import argparse

from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_engine_argument
from imagehub.cli._args import add_model_argument
from imagehub.cli._args import add_model_input_arguments
from imagehub.cli._args import add_no_progress_argument
from imagehub.cli._args import add_overwrite_argument
from imagehub.embed import DEFAULTS
from imagehub.engines import MIN_AGREEMENT
from imagehub.engines import PRECISIONS

HELP = "compute feature vectors for many images (Parquet or .npy)"
DESCRIPTION = """\
One row per image: path, vector (the model's features; a classifier's
logits) and, for classifiers, logits. Streams in parts with bounded memory;
rerunning with the same --output skips images already written; bad files are
listed in OUT.errors.csv. --runner beam runs the same job as an Apache Beam
pipeline (RunInference).
"""


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(subparsers, "embed", HELP, DESCRIPTION)
    add_model_argument(p)
    p.add_argument(
        "--input",
        required=True,
        action="append",
        metavar="DIR|GLOB|LIST_FILE",
        help="images: a folder, a glob, or a text file of paths (repeatable)",
    )
    p.add_argument(
        "--output",
        required=True,
        metavar="OUT.parquet|OUT.npy",
        help="where to write (OUT.npy: paths go to OUT.paths.txt)",
    )
    add_model_input_arguments(p)
    add_engine_argument(p)
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=PRECISIONS[0],
        help="int8: LiteRT's post-training quantized model; its agreement "
        "with the float model is measured on the job's first images, "
        "printed, written to OUT.config.json and enforced "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--calibration_images",
        metavar="DIR|GLOB|LIST_FILE",
        help="--precision int8: images to calibrate the quantization on "
        "(default: a seeded sample of up to 100 of the job's own images, "
        "none of those its agreement is measured on)",
    )
    p.add_argument(
        "--min_agreement",
        type=float,
        default=MIN_AGREEMENT,
        help="--precision int8: the smallest agreement with the float "
        "model (mean cosine similarity of feature vectors, top-1 "
        "agreement of classifiers) that may run; below it the run stops "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--part_size",
        type=int,
        default=DEFAULTS.part_size,
        help="rows per part file (memory use and resume granularity; "
        "default: %(default)s)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="decoding threads (--runner local; default: TensorFlow's pool)",
    )
    p.add_argument(
        "--runner",
        choices=("local", "beam"),
        default=DEFAULTS.runner,
        help="local: this process, resumable; beam: an Apache Beam "
        "pipeline (default: %(default)s)",
    )
    p.add_argument(
        "--beam_option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=(
            "a Beam pipeline option, passed on as --KEY=VALUE; repeatable "
            "(--runner beam only), e.g. runner=DataflowRunner, "
            "temp_location=gs://bucket/tmp"
        ),
    )
    add_no_progress_argument(p)
    add_overwrite_argument(p, "--output and the files beside it")


def parse_beam_options(values: list[str]) -> dict[str, str]:
    """KEY=VALUE strings -> dict; raises UsageError on a malformed one."""
    from imagehub.cli import UsageError

    options = {}
    for value in values:
        key, sep, rest = value.partition("=")
        key = key.strip().lstrip("-")
        if not key:
            raise UsageError(
                f"--beam_option {value!r}: expected KEY=VALUE, e.g. "
                "runner=DataflowRunner"
            )
        options[key] = rest if sep else ""
    return options


def run(args: argparse.Namespace) -> int:
    import typing

    from imagehub.cli import UsageError
    from imagehub.cli._args import model_inputs
    from imagehub.cli._args import usage_errors
    from imagehub.cli._progress import image_progress
    from imagehub.embed import EmbedSummary
    from imagehub.engines import EngineError

    beam_options = parse_beam_options(args.beam_option)
    if beam_options and args.runner != "beam":
        raise UsageError("--beam_option needs --runner beam")
    if args.calibration_images and args.precision != "int8":
        raise UsageError("--calibration_images needs --precision int8")
    inputs = args.input[0] if len(args.input) == 1 else args.input
    import functools

    import imagehub

    # What both runners take alike; each adds its own below.
    embed = functools.partial(
        imagehub.embed,
        args.model,
        inputs,
        args.output,
        overwrite=args.overwrite,
        engine=args.engine,
        precision=args.precision,
        calibration_images=args.calibration_images,
        min_agreement=args.min_agreement,
        **model_inputs(args),
    )
    with usage_errors(
        # FileExistsError: imagehub.outputs' refusals (an existing output,
        # another run writing it), each naming the path and the way out.
        ValueError,
        FileNotFoundError,
        FileExistsError,
        EngineError,
    ):
        if args.runner == "beam":
            import logging

            from imagehub.cli._console import stderr_console

            if not args.verbose:
                # Beam logs every bundle and worker start at INFO.
                logging.getLogger("apache_beam").setLevel(logging.WARNING)

            with stderr_console().status("Running the Beam pipeline"):
                summary = embed(runner="beam", beam_options=beam_options)
        else:
            with image_progress(
                "embedding", enabled=not args.no_progress
            ) as progress:
                summary = embed(
                    progress=progress,
                    part_size=args.part_size,
                    workers=args.workers,
                )
    summary = typing.cast(EmbedSummary, summary)  # an output was given
    print(
        f"{summary.output}: {summary.rows} images "
        f"({summary.processed} files read in this run)"
    )
    if summary.engine_reason:
        print(f"engine: {summary.engine} ({summary.engine_reason})")
    if summary.errors:
        files = "file" if summary.errors == 1 else "files"
        print(
            f"{summary.errors} {files} could not be embedded; see "
            f"{summary.errors_path}"
        )
    return 0
