"""`imagehub retrain`: make_image_classifier's successor on the command line.

Every flag of tensorflow_hub's make_image_classifier works as before (same
names, defaults and meaning; booleans as ``--flag``, ``--noflag`` or
``--flag=true|false``), plus imagehub's additions.
"""

from __future__ import annotations

import argparse
import sys

from imagehub.cli._args import Subparsers
from imagehub.retrain import add_flags
from imagehub.retrain import config_from_args

DESCRIPTION = """\
Retrain an image classifier on a folder of images (one subfolder per
class) on top of an image feature-vector SavedModel, and export it as a
SavedModel in the classification API, a labels file, a TFLite model and a
report. The successor of tensorflow_hub's make_image_classifier: its
command lines run unchanged.

example:
  imagehub retrain --image_dir photos --tfhub_module FEATURE_VECTOR_DIR \\
    --saved_model_dir out/model --labels_output_file out/labels.txt \\
    --tflite_output_file out/model.tflite
"""


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "retrain",
        help="retrain a classifier on a folder of images "
        "(make_image_classifier)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(parser)


def run(args: argparse.Namespace) -> int:
    from imagehub.cli import UsageError

    try:
        config = config_from_args(args)
    except ValueError as e:
        raise UsageError(str(e)) from e

    from rich.console import Console

    from imagehub.cli._console import stderr_console
    from imagehub.cli._progress import retrain_progress
    from imagehub.engines import EngineError
    from imagehub.retrain import FlagValueError
    from imagehub.retrain import RetrainError
    from imagehub.retrain import make_image_classifier

    err = stderr_console()
    out = Console()
    try:
        epochs = None if config.searches else config.resolved_train_epochs
        with retrain_progress(epochs) as progress:
            result = make_image_classifier(config, progress=progress)
    except (FlagValueError, FileExistsError) as e:
        # A bad flag found once the run looked, or an existing output
        # (imagehub.outputs' refusal names the path and --overwrite).
        raise UsageError(str(e)) from e
    except (RetrainError, EngineError) as e:
        print(f"imagehub retrain: error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"imagehub retrain: error: {e}", file=sys.stderr)
        return 1
    if result.skipped:
        count = len(result.skipped)
        files = "file" if count == 1 else "files"
        err.print(
            f"{count} {files} not used (not images, or images that do not "
            "decode; the log above names each with the reason)"
        )
    accuracy = result.val_accuracy
    if config.assert_accuracy_at_least is not None:
        out.print(
            f"ACCURACY PASSED: found {accuracy:f}, expected at least "
            f"{config.assert_accuracy_at_least:f}"
        )
    count, epochs = result.val_count, result.epochs_run
    out.print(
        f"Final validation accuracy: {accuracy:.4f} on {count} images "
        f"({len(result.labels)} classes, {epochs} "
        f"{'epoch' if epochs == 1 else 'epochs'}, {result.seconds:.1f} s)"
    )
    out.print(f"  {result.context}")
    if result.recipe:
        out.print(f"  {result.recipe}", markup=False, highlight=False)
    if result.engine:
        out.print(
            f"  feature pass: engine {result.engine} ({result.engine_reason})",
            markup=False,
            highlight=False,
        )
    if result.hint:
        out.print(f"  Hint: {result.hint}")
    if result.tflite is not None:
        out.print(result.tflite.describe())
    names = {
        "saved_model": "SavedModel",
        "tflite": "TFLite model",
        "labels": "Labels",
        "report": "Report",
        "checkpoints": "Checkpoints",
    }
    for kind, path in result.outputs.items():
        out.print(f"{names.get(kind, kind)} written to {path}")
    if not any(k in result.outputs for k in ("saved_model", "tflite")):
        out.print(
            "No model exported: pass --saved_model_dir and/or "
            "--tflite_output_file to keep it."
        )
    return 0
