"""`imagehub classify`: top-k labels and scores for images."""

from __future__ import annotations

import argparse
from typing import Any

from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_engine_argument
from imagehub.cli._args import add_json_argument
from imagehub.cli._args import add_labels_argument
from imagehub.cli._args import add_model_argument
from imagehub.cli._args import add_model_input_arguments
from imagehub.cli._args import add_no_progress_argument
from imagehub.embed import DEFAULTS

HELP = "label images with a classifier (top-k labels and scores)"
DESCRIPTION = """\
Scores are the softmax or sigmoid of the logits, as the model card says;
labels come from the card, or --labels FILE (one name a line; TF Hub's
1001-class ImageNet models: index 0 is background). A model without labels
prints class indices.
"""


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(subparsers, "classify", HELP, DESCRIPTION)
    add_model_argument(p)
    p.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE_OR_DIR",
        help="image files, folders, globs or text files of paths",
    )
    p.add_argument(
        "--top_k",
        type=int,
        default=DEFAULTS.top_k,
        help="classes reported per image (default: %(default)s)",
    )
    add_json_argument(p, "print a JSON array with one object per image")
    add_labels_argument(p)
    add_model_input_arguments(p)
    add_engine_argument(p)
    add_no_progress_argument(p)


def _format(result: dict[str, Any]) -> list[str]:
    lines = [result["path"]]
    if "error" in result:
        lines.append(f"  error: {result['error']}")
    for entry in result["top_k"]:
        # A model without labels: the class index is all there is.
        name = f"{entry['label']} " if entry["label"] is not None else ""
        lines.append(f"  {entry['score']:.4f}  {name}({entry['index']})")
    if "predicted" in result:
        # A multi-label model: the classes over their card's thresholds.
        chosen = [
            str(e["label"] if e["label"] is not None else e["index"])
            for e in result["predicted"]
        ]
        lines.append(f"  labels: {', '.join(chosen) or '(none)'}")
    return lines


def run(args: argparse.Namespace) -> int:
    import json

    import imagehub
    from imagehub.cli._args import model_inputs
    from imagehub.cli._args import usage_errors
    from imagehub.cli._progress import image_progress
    from imagehub.engines import EngineError

    with (
        usage_errors(ValueError, FileNotFoundError, EngineError),
        image_progress("classifying", enabled=not args.no_progress) as progress,
    ):
        results = imagehub.classify(
            args.model,
            args.images,
            top_k=args.top_k,
            labels=args.labels,
            progress=progress,
            engine=args.engine,
            **model_inputs(args),
        )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print("\n".join(_format(result)))
    failed = sum("error" in r for r in results)
    return 1 if results and failed == len(results) else 0
