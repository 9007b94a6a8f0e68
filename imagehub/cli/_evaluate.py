"""`imagehub evaluate`: a classifier's accuracy on a labelled image folder."""

from __future__ import annotations

import argparse
import json

from imagehub.cli._embed import add_model_input_arguments


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a classifier on a folder of labelled images (accuracy, "
        "per-class precision/recall/F1, confusion matrix)",
        description=(
            "Classifies every image of --image_dir (one subfolder per "
            "class, named as the model's labels) and prints top-1 and top-5 "
            "accuracy, per-class precision, recall and F1 and the confusion "
            "matrix. Works for any reusable classifier: labels come from "
            "the model card, or --labels FILE."
        ),
    )
    p.add_argument("--model", required=True, help="model handle or path")
    p.add_argument(
        "--image_dir",
        required=True,
        help="a folder with one subfolder of images per class",
    )
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="class names, one a line (default: the model card's)",
    )
    p.add_argument(
        "--json", action="store_true", help="print the numbers as JSON"
    )
    add_model_input_arguments(p)


def run(args: argparse.Namespace) -> int:
    from imagehub.cli import UsageError
    from imagehub.retrain import evaluate_classifier

    try:
        result = evaluate_classifier(
            args.model,
            args.image_dir,
            labels=args.labels,
            batch_size=args.batch_size,
            image_size=args.image_size,
            resize=args.resize,
        )
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from e
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

    def fmt(value: float | None) -> str:
        return "      -" if value is None else f"{value:7.3f}"

    for c in m.per_class:
        print(
            f"{c.name:{width}}    {fmt(c.precision)} {fmt(c.recall)} "
            f"{fmt(c.f1)}  {c.support:6d}"
        )
    print("confusion matrix (rows: true class, columns: predicted):")
    for name, row in zip(result.class_names, m.confusion_matrix, strict=True):
        print(f"{name:{width}}  " + " ".join(f"{n:4d}" for n in row))
    if result.skipped:
        print(f"{len(result.skipped)} files not scored (not images or bad)")
    return 0
