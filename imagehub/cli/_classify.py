"""`imagehub classify`: top-k labels and scores for images."""

from __future__ import annotations

import argparse
from typing import Any

from imagehub.cli._embed import add_engine_argument
from imagehub.cli._embed import add_model_input_arguments
from imagehub.embed import DEFAULTS


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    p = subparsers.add_parser(
        "classify",
        help="label images with a classifier (top-k labels and scores)",
        description=(
            "Scores are the softmax or sigmoid of the logits, as the model "
            "card says; labels come from the card, or --labels FILE (one "
            "name a line; TF Hub's 1001-class ImageNet models: index 0 is "
            "background). A model without labels prints class indices."
        ),
    )
    p.add_argument("--model", required=True, help="model handle or path")
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
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON array with one object per image",
    )
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="class names, one a line (default: the model card's)",
    )
    add_model_input_arguments(p)
    add_engine_argument(p)
    p.add_argument(
        "--no_progress", action="store_true", help="hide the progress bar"
    )


def _format(result: dict[str, Any]) -> list[str]:
    lines = [result["path"]]
    if "error" in result:
        lines.append(f"  error: {result['error']}")
    for entry in result["top_k"]:
        # A model without labels: the class index is all there is.
        name = f"{entry['label']} " if entry["label"] is not None else ""
        lines.append(f"  {entry['score']:.4f}  {name}({entry['index']})")
    return lines


def run(args: argparse.Namespace) -> int:
    import json

    import imagehub
    from imagehub.cli import UsageError
    from imagehub.cli._progress import image_progress
    from imagehub.engines import EngineError

    try:
        with image_progress(
            "classifying", enabled=not args.no_progress
        ) as progress:
            results = imagehub.classify(
                args.model,
                args.images,
                top_k=args.top_k,
                labels=args.labels,
                batch_size=args.batch_size,
                image_size=args.image_size,
                resize=args.resize,
                progress=progress,
                engine=args.engine,
            )
    except (ValueError, FileNotFoundError, EngineError) as e:
        raise UsageError(str(e)) from e
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print("\n".join(_format(result)))
    failed = sum("error" in r for r in results)
    return 1 if results and failed == len(results) else 0
