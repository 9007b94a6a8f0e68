"""The pieces every command's parser and runner share, each written once.

A flag that several commands take (`--model`, `--labels`, `--batch_size`,
`--image_size`, `--resize`, `--engine`, `--overwrite`, ...) is added here
with one spelling, default and help text, so that `imagehub classify --help`
and `imagehub evaluate --help` cannot drift apart; `model_inputs(args)` reads
back what `add_model_input_arguments` defined. `add_command` makes a
command's parser from its `HELP` line and `DESCRIPTION` text, and
`usage_errors` turns the library's errors about the user's input into a
usage error (exit code 2, the message without a traceback).

Building the parser imports no TensorFlow, so `imagehub --help` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TypeAlias
from typing import TypedDict

from imagehub.cli import UsageError
from imagehub.embed import DEFAULTS
from imagehub.engines import ENGINE_CHOICES
from imagehub.spec import RESIZE_MODES

# What `ArgumentParser.add_subparsers()` returns: where commands are added.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(
    subparsers: Subparsers, name: str, help: str, description: str
) -> argparse.ArgumentParser:
    """The parser of `imagehub NAME`.

    Args:
        subparsers: Where the commands are added.
        name: The command's name.
        help: Its line in `imagehub --help`.
        description: Its text in `imagehub NAME --help`, shown as written
            (paragraphs and examples keep their line breaks).

    Returns:
        The command's parser, for its arguments.
    """
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """--model: the one model a command runs (classify, embed, evaluate)."""
    parser.add_argument("--model", required=True, help="model handle or path")


def add_labels_argument(parser: argparse.ArgumentParser) -> None:
    """--labels FILE: class names instead of the model card's (classify,
    evaluate)."""
    parser.add_argument(
        "--labels",
        metavar="FILE",
        help="class names, one a line (default: the model card's)",
    )


def add_handles_argument(
    parser: argparse.ArgumentParser, nargs: str, help: str
) -> None:
    """HANDLE...: the models a hub command acts on (cache, lock); `nargs`
    "+" where at least one is needed, "*" where none means all."""
    parser.add_argument("handles", nargs=nargs, metavar="HANDLE", help=help)


def add_json_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """--json: print machine-readable output; `help` says what is printed."""
    parser.add_argument("--json", action="store_true", help=help)


def add_no_progress_argument(parser: argparse.ArgumentParser) -> None:
    """--no_progress: for commands that show a progress bar."""
    parser.add_argument(
        "--no_progress", action="store_true", help="hide the progress bar"
    )


def add_overwrite_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """The one `--overwrite` flag of every command that writes."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace {what} if it exists (without it an existing "
        "output is refused; the old one stays until the new one is "
        "complete)",
    )


def add_model_input_arguments(parser: argparse.ArgumentParser) -> None:
    """--batch_size, --image_size and --resize: how images reach the model
    (embed, classify, evaluate); `model_inputs` reads them back."""
    parser.add_argument(
        "--batch_size",
        type=int,
        default=DEFAULTS.batch_size,
        help="images per model call (default: %(default)s)",
    )
    parser.add_argument(
        "--image_size",
        metavar="H,W",
        help="input size (default: the model card's)",
    )
    parser.add_argument(
        "--resize",
        choices=RESIZE_MODES,
        default=DEFAULTS.resize,
        help="how images are brought to the input size: stretch, crop "
        "(central crop) or pad (letterbox) (default: %(default)s)",
    )


class ModelInputs(TypedDict):
    """The keyword arguments `add_model_input_arguments` defines."""

    batch_size: int
    image_size: str | None
    resize: str


def model_inputs(args: argparse.Namespace) -> ModelInputs:
    """The flags of `add_model_input_arguments`, as keyword arguments of
    `imagehub.classify`, `imagehub.embed` and the evaluators."""
    return ModelInputs(
        batch_size=args.batch_size,
        image_size=args.image_size,
        resize=args.resize,
    )


def add_engine_argument(parser: argparse.ArgumentParser) -> None:
    """--engine: what runs the model (embed, classify)."""
    parser.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default=DEFAULTS.engine,
        help="what runs the model: auto (the fastest engine that keeps "
        "parity with TensorFlow, measured once per model on this machine; "
        "TensorFlow for jobs under 1000 images until then), tensorflow, "
        "litert or openvino (compiled once, checked against TensorFlow, "
        "cached) (default: %(default)s)",
    )


@contextlib.contextmanager
def usage_errors(*errors: type[Exception]) -> Iterator[None]:
    """Raises `UsageError` (exit code 2) for `errors` raised in the block.

    For the library's errors about what the user gave (a bad value, a
    missing file, an existing output): their messages name the input and
    the fix, so the traceback would only hide them.

    Example:
        >>> with usage_errors(ValueError, FileNotFoundError):
        ...     results = imagehub.classify(args.model, args.images)
    """
    try:
        yield
    except errors as e:
        raise UsageError(str(e)) from e
