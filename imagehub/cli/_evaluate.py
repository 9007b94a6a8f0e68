"""`imagehub evaluate`: a classifier's accuracy on a labelled image folder."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_json_argument
from imagehub.cli._args import add_labels_argument
from imagehub.cli._args import add_model_argument
from imagehub.cli._args import add_model_input_arguments

if TYPE_CHECKING:
    from imagehub.retrain import Calibration
    from imagehub.retrain import FolderEvaluation

HELP = (
    "score a classifier on a folder of labelled images (accuracy, "
    "per-class precision/recall/F1, confusion matrix)"
)
DESCRIPTION = """\
Classifies every image of --image_dir (one subfolder per class, named as the
model's labels) and prints top-1 and top-5 accuracy, per-class precision,
recall and F1 and the confusion matrix. Works for any reusable classifier:
labels come from the model card, or --labels FILE. A multi-label model
(retrain --multi_label) is scored on --labels_csv FILE with mAP and
per-class F1 at its card's thresholds.
"""


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(subparsers, "evaluate", HELP, DESCRIPTION)
    add_model_argument(p)
    p.add_argument(
        "--image_dir",
        help="a folder with one subfolder of images per class; with "
        "--labels_csv, the folder relative CSV paths start from",
    )
    p.add_argument(
        "--labels_csv",
        metavar="FILE",
        help="multi-label images: `path,labels` rows (labels separated by "
        "';'), scored with mAP and per-class F1 at the card's thresholds",
    )
    add_labels_argument(p)
    add_json_argument(p, "print the numbers as JSON")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write reliability.png (a reliability diagram of the top-1 "
        "scores) and misclassified.html (the misclassified images with "
        "thumbnails in DIR/thumbnails/) into this folder (created if "
        "missing)",
    )
    add_model_input_arguments(p)


def run(args: argparse.Namespace) -> int:
    from imagehub.cli import UsageError
    from imagehub.cli._args import model_inputs
    from imagehub.cli._args import usage_errors
    from imagehub.retrain import evaluate_classifier

    if args.labels_csv is not None:
        return _run_multi_label(args)
    if args.image_dir is None:
        raise UsageError(
            "evaluate needs --image_dir DIR (one subfolder per class) or, "
            "for a multi-label model, --labels_csv FILE"
        )
    with usage_errors(ValueError, FileNotFoundError):
        result = evaluate_classifier(
            args.model, args.image_dir, labels=args.labels, **model_inputs(args)
        )
    plot = _write_plot(args.out, result.calibration)
    page = _write_page(args.out, result, args.resize)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    m = result.metrics
    print(
        f"accuracy {result.accuracy:.4f} (top-5 {result.top5_accuracy:.4f}) "
        f"on {m.count} images of {args.image_dir}"
    )
    width = max(len(c.name) for c in m.per_class)
    print(f"{'class':{width}}  precision  recall      f1  images")

    for c in m.per_class:
        print(
            f"{c.name:{width}}    {_fmt(c.precision)} {_fmt(c.recall)} "
            f"{_fmt(c.f1)}  {c.support:6d}"
        )
    print("confusion matrix (rows: true class, columns: predicted):")
    for name, row in zip(result.class_names, m.confusion_matrix, strict=True):
        print(f"{name:{width}}  " + " ".join(f"{n:4d}" for n in row))
    ece = result.calibration.expected_calibration_error
    print(f"expected calibration error {ece:.4f} (10 bins of top-1 score)")
    if plot:
        print(f"reliability diagram: {plot}")
    if page:
        print(f"misclassified images: {page}")
    if result.skipped:
        print(f"{len(result.skipped)} files not scored (not images or bad)")
    return 0


def _write_plot(out: str | None, calibration: Calibration) -> str | None:
    """reliability.png in `out` (replacing an older one), or None."""
    import os

    from imagehub.retrain import write_reliability_diagram

    if out is None:
        return None
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "reliability.png")
    write_reliability_diagram(calibration, path, overwrite=True)
    return path


def _write_page(
    out: str | None, result: FolderEvaluation, resize: str
) -> str | None:
    """misclassified.html and thumbnails/ in `out` (replacing older
    ones, as reliability.png), or None."""
    from imagehub.retrain import write_misclassified_page

    if out is None:
        return None
    return write_misclassified_page(result, out, resize=resize, overwrite=True)


def _fmt(value: float | None) -> str:
    return "      -" if value is None else f"{value:7.3f}"


def _run_multi_label(args: argparse.Namespace) -> int:
    from imagehub.cli._args import model_inputs
    from imagehub.cli._args import usage_errors
    from imagehub.retrain import FlagValueError
    from imagehub.retrain import evaluate_multi_label

    with usage_errors(ValueError, FileNotFoundError, FlagValueError):
        result = evaluate_multi_label(
            args.model,
            args.labels_csv,
            image_dir=args.image_dir,
            **model_inputs(args),
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    print(
        f"mAP {result.mean_average_precision:.4f} (exact label sets "
        f"{result.subset_accuracy:.4f}) on {result.count} images of "
        f"{args.labels_csv}"
    )
    names = result.class_names
    width = max(len(n) for n in names)
    print(f"{'class':{width}}  threshold       AP      f1  images")
    support = result.targets.sum(axis=0)
    for i, name in enumerate(names):
        print(
            f"{name:{width}}    {result.thresholds[i]:7.3f} "
            f"{_fmt(result.average_precision[i])} {_fmt(result.f1[i])}  "
            f"{int(support[i]):6d}"
        )
    if result.skipped:
        print(f"{len(result.skipped)} files not scored (not images or bad)")
    return 0
