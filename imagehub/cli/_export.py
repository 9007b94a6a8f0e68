"""`imagehub export`: write a reusable image SavedModel from a Keras model.

One source: `--arch NAME` (keras.applications), `--keras_model PATH`
(`.keras` file), `--saved_model PATH` (a SavedModel without the reusable
API, e.g. from Keras 3's `Model.export()`) or `--preset PRESET` (a KerasHub
preset: built-in name, kaggle://, hf:// or a local preset folder).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Any

from imagehub.cli import UsageError
from imagehub.cli import parse_image_size_flag
from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_overwrite_argument
from imagehub.spec import ACTIVATIONS
from imagehub.spec import DEFAULT_ACTIVATION
from imagehub.spec import TASK_CLASSIFICATION
from imagehub.spec import TASK_FEATURE_VECTOR
from imagehub.spec import TASKS
from imagehub.spec import read_labels

# What a source model may expect (imagehub.export.INPUT_RANGES), kept
# literal so that building the parser does not import the exporter.
_RANGES = ("0,1", "-1,1", "0,255")

HELP = "export a Keras model as a reusable image SavedModel"
DESCRIPTION = """\
Export a reusable image SavedModel (feature vector or classifier) that takes
[0, 1] RGB images, with a model card and serving signatures. Give exactly
one of --arch, --keras_model, --saved_model, --preset.
"""


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(subparsers, "export", HELP, DESCRIPTION)
    p.add_argument(
        "--task",
        choices=TASKS,
        default=TASK_FEATURE_VECTOR,
        help="what the SavedModel returns (default: %(default)s)",
    )
    p.add_argument("--out", required=True, help="SavedModel directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--arch",
        help="a keras.applications class name, case-insensitive "
        "(MobileNetV3Small, mobilenet, efficientnetb0, ...)",
    )
    src.add_argument("--keras_model", help="a saved Keras model (.keras)")
    src.add_argument(
        "--saved_model",
        help="a SavedModel to wrap (e.g. written by Keras Model.export())",
    )
    src.add_argument(
        "--preset",
        help="a KerasHub preset: a built-in name, kaggle://..., hf://... "
        "or a local preset folder (needs imagehub[keras-hub])",
    )
    p.add_argument(
        "--alpha",
        type=float,
        help="width multiplier (--arch; default: the architecture's, 1.0)",
    )
    p.add_argument(
        "--weights",
        default="imagenet",
        help="--arch weights: imagenet, none, or a weights file PATH "
        "(default: imagenet)",
    )
    p.add_argument(
        "--input_range",
        choices=_RANGES,
        metavar="LOW,HIGH",
        help="the range the source model expects its input in: "
        + ", ".join(_RANGES)
        + " (--keras_model/--saved_model; default: 0,1; --preset: default "
        "its ImageConverter's)",
    )
    p.add_argument(
        "--preprocessing",
        help="the source model's preprocessing on [0, 255] input: an "
        "architecture name (its preprocess_input) or tf, torch, caffe",
    )
    p.add_argument(
        "--signature",
        help="signature to wrap (--saved_model; default: serving_default, "
        "else serve)",
    )
    p.add_argument(
        "--image_size",
        metavar="H,W",
        help="default input size H,W (or one number for square; default: "
        "the model's fixed input size, else its preset's, else 224,224)",
    )
    p.add_argument(
        "--labels", help="class names, one per line (classification)"
    )
    p.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default=DEFAULT_ACTIVATION,
        help="activation that applies to the logits (default: %(default)s)",
    )
    p.add_argument("--license", default=None, help="license for the card")
    p.add_argument("--source", default=None, help="source for the card")
    add_overwrite_argument(p, "--out")
    # Let "--input_range -1,1" parse: argparse takes "-1,1" for a flag
    # unless it looks like a negative number.
    p._negative_number_matcher = re.compile(r"^-\d+(\.\d+)?(,\d+)?$")
    p.set_defaults(command="export")


# The library's messages name its Python arguments (`activation='softmax'`);
# on the command line the user typed (or left out) the flag of that name.
_FLAG_ARGUMENTS = re.compile(
    r"(?<![\w-])(activation|alpha|weights|input_range|preprocessing|"
    r"signature|image_size|labels|keras_model|saved_model)="
)


def _as_flags(message: str) -> str:
    """`activation='sigmoid'` -> `--activation 'sigmoid'` in a message."""
    return _FLAG_ARGUMENTS.sub(r"--\1 ", message)


def _read_labels(path: str) -> list[str]:
    """The labels file, by the rule of `imagehub.spec.read_labels`."""
    try:
        return read_labels(path)
    except OSError as e:
        raise UsageError(f"--labels {path!r}: {e.strerror}") from e
    except ValueError as e:
        raise UsageError(f"--labels {path!r} holds no labels") from e


def _check_flags(args: argparse.Namespace) -> None:
    if args.arch is None:
        if args.alpha is not None:
            raise UsageError("--alpha applies to --arch only")
        if args.weights != "imagenet":
            raise UsageError("--weights applies to --arch only")
    elif args.input_range or args.preprocessing:
        raise UsageError(
            "--arch folds its own preprocessing in; --input_range and "
            "--preprocessing apply to --keras_model, --saved_model and "
            "--preset"
        )
    if args.signature and not args.saved_model:
        raise UsageError("--signature applies to --saved_model only")
    if args.input_range and args.preprocessing:
        raise UsageError("give --input_range or --preprocessing, not both")
    if args.labels and args.task != TASK_CLASSIFICATION:
        raise UsageError("--labels applies to --task classification only")
    # Named by the flag the user typed, before TensorFlow starts.
    if args.keras_model and not os.path.isfile(args.keras_model):
        raise UsageError(
            f"--keras_model {args.keras_model!r}: no such file; expected a "
            "saved Keras model (.keras)"
        )
    if args.saved_model and not os.path.isdir(args.saved_model):
        raise UsageError(
            f"--saved_model {args.saved_model!r}: no such folder; expected "
            "a SavedModel directory"
        )


def _export(args: argparse.Namespace, status: Any) -> str:
    from imagehub import export as ex

    size = parse_image_size_flag(args.image_size)
    options: dict[str, Any] = {"overwrite": args.overwrite}
    export_fn: Callable[..., str]
    if args.task == TASK_CLASSIFICATION:
        export_fn = ex.export_classifier
        options["activation"] = args.activation
        if args.labels:
            options["labels"] = _read_labels(args.labels)
    else:
        export_fn = ex.export_feature_vector
    if args.arch:
        status.update(f"Building {args.arch}...")
        model = ex.build_arch(
            args.arch,
            alpha=args.alpha,
            weights=args.weights,
            image_size=size,
            task=args.task,
        )
        options.update(
            ex.arch_options(
                args.arch,
                alpha=args.alpha,
                weights=args.weights,
                task=args.task,
            )
        )
    elif args.preset:
        status.update(f"Loading KerasHub preset {args.preset}...")
        model = ex.load_preset(args.preset, args.task, image_size=size)
    else:
        model = args.keras_model or args.saved_model
    if not args.arch:
        if args.input_range:
            options["input_range"] = args.input_range
        if args.preprocessing:
            options["preprocessing"] = args.preprocessing
        if args.signature:
            options["signature"] = args.signature
    if args.keras_model or args.saved_model:
        options["source"] = os.path.abspath(model)
    if size is not None:
        options["image_size"] = size
    if args.license is not None:
        options["license"] = args.license
    if args.source is not None:
        options["source"] = args.source
    status.update(f"Exporting to {args.out} (trace, save, verify)...")
    return export_fn(model, args.out, **options)


def run(args: argparse.Namespace) -> int:
    from imagehub import outputs

    _check_flags(args)
    try:
        outputs.check_target(args.out, args.overwrite)
    except outputs.OutputExistsError as e:
        raise UsageError(str(e)) from None

    from imagehub.cli._console import stderr_console
    from imagehub.export import ExportVerificationError
    from imagehub.spec import read_card

    console = stderr_console()
    try:
        with console.status("Starting TensorFlow...") as status:
            path = _export(args, status)
    except ExportVerificationError as e:
        print(f"imagehub export: verification failed, nothing written: {e}")
        return 1
    except (ValueError, FileExistsError) as e:
        raise UsageError(_as_flags(str(e))) from e
    except (ConnectionError, ImportError) as e:
        # A KerasHub preset without network or without keras-hub: the
        # message says what to do.
        raise UsageError(str(e)) from e
    card = read_card(path)
    if card is None:  # _verify checked it; only a race could remove it
        print(f"Exported to {path}")
        return 0
    what = (
        f"{card.num_outputs} features"
        if card.task == "feature_vector"
        else f"{card.num_outputs} {card.activation} logits"
    )
    size = "x".join(str(s) for s in card.default_size)
    sizes = "fixed size" if card.fixed_size else "any size"
    print(f"Exported {card.task} ({what}, default {size}, {sizes}) to {path}")
    return 0
