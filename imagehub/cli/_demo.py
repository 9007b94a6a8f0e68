"""`imagehub demo`: the whole promise on the built-in default, offline.

Every step is an `imagehub` command a user could have typed; each is printed
before it runs, then run through the CLI's own entry point in this process
(`run_command`): a subprocess per step would pay Python's and TensorFlow's
start-up (about 5 s on two cores) six times, half of the demo's time.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time

from imagehub.cli import UsageError
from imagehub.cli._args import Subparsers
from imagehub.cli._args import add_command
from imagehub.cli._args import add_overwrite_argument
from imagehub.cli._in_process import run_command

_DEFAULT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_default"
)
WEIGHTS = os.path.join(_DEFAULT, "weights", "mobilenet_2_5_224_tf_no_top.h5")
FLOWERS = os.path.join(_DEFAULT, "flowers")

# The demo retrains with retrain's default recipe (settings chosen on the
# validation photos; bench/results/retrain_quality.md). --fast gives
# --train_epochs: every setting of the learning rate and L2 grid trains
# exactly that many epochs, without early stopping.
FAST_EPOCHS = 5

HELP = (
    "export, check, retrain, classify and embed on the built-in MobileNet "
    "and flower photos"
)
DESCRIPTION = """\
Run the whole job on the built-in MobileNet V1 0.25 and 150 flower photos,
offline: export, check, retrain, check, classify, embed. Every step is an
`imagehub` command a user could type; each is printed before it runs.
"""


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(subparsers, "demo", HELP, DESCRIPTION)
    p.add_argument(
        "--out",
        default="imagehub-demo",
        help="folder for every output (default: %(default)s); kept",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help=f"train {FAST_EPOCHS} epochs instead of stopping early "
        "(for tests)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="training seed (default: %(default)s)",
    )
    add_overwrite_argument(p, "the outputs of an earlier demo in --out")


def _step(title: str, argv: list[str]) -> None:
    print(f"\n== {title}", flush=True)
    print("$ imagehub " + " ".join(shlex.quote(a) for a in argv), flush=True)
    start = time.perf_counter()
    code = run_command(argv)
    print(f"({time.perf_counter() - start:.0f} s)", flush=True)
    if code == 130:  # interrupted: the demo stops as `imagehub` would
        raise KeyboardInterrupt
    if code != 0:
        raise SystemExit(
            f"demo step {title!r} failed with exit code {code}; the command "
            "above shows what ran"
        )


def _pick_photos(per_class: int = 1) -> list[str]:
    photos = []
    for name in sorted(os.listdir(FLOWERS)):
        folder = os.path.join(FLOWERS, name)
        if os.path.isdir(folder):
            files = sorted(os.listdir(folder))[:per_class]
            photos += [os.path.join(folder, f) for f in files]
    return photos


def _neighbours(parquet_path: str, queries: list[str], k: int = 3) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(parquet_path, columns=["path", "vector"])
    paths = table.column("path").to_pylist()
    vectors = np.asarray(table.column("vector").to_pylist(), np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    index = {os.path.abspath(p): i for i, p in enumerate(paths)}
    print(f"\n== nearest neighbours (cosine) among {len(paths)} photos")
    for query in queries:
        i = index.get(os.path.abspath(query))
        if i is None:
            continue
        sims = vectors @ vectors[i]
        order = [j for j in np.argsort(-sims) if j != i][:k]
        print(_rel(query))
        for j in order:
            print(f"   {sims[j]:.3f}  {_rel(paths[j])}")


def _rel(path: str) -> str:
    parts = os.path.normpath(path).split(os.sep)
    return os.path.join(*parts[-2:])


def run(args: argparse.Namespace) -> int:
    out = os.path.abspath(args.out)
    backbone = os.path.join(out, "mobilenet_v1_025_feature_vector")
    classifier = os.path.join(out, "flowers_classifier")
    tflite = os.path.join(out, "flowers_classifier.tflite")
    labels = os.path.join(out, "flowers_labels.txt")
    report = os.path.join(out, "report")
    embeddings = os.path.join(out, "flowers_features.parquet")
    # retrain's default: beside the SavedModel
    checkpoints = classifier + "_checkpoints"
    written = [
        backbone,
        classifier,
        tflite,
        labels,
        report,
        embeddings,
        # retrain's checkpoints and feature cache; embed's resumable
        # parts, settings and errors file
        checkpoints,
        embeddings.replace(".parquet", ".parts"),
        embeddings.replace(".parquet", ".config.json"),
        embeddings.replace(".parquet", ".errors.csv"),
    ]
    from imagehub import outputs

    existing = [p for p in written if os.path.lexists(p)]
    if existing and not args.overwrite:
        error = outputs.OutputExistsError(existing[0], "from an earlier demo")
        raise UsageError(str(error))
    for path in existing:  # --overwrite: start from a clean slate
        outputs.discard(path)
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()
    _step(
        "1. export the built-in MobileNet V1 0.25 as a feature vector",
        [
            "export",
            "--task",
            "feature_vector",
            "--arch",
            "MobileNet",
            "--alpha",
            "0.25",
            "--weights",
            WEIGHTS,
            "--out",
            backbone,
        ],
    )
    _step("2. check it against the contract", ["check", backbone])
    fast = ["--train_epochs", str(FAST_EPOCHS)] if args.fast else []
    _step(
        "3. retrain a flower classifier on the bundled photos",
        [
            "retrain",
            "--image_dir",
            FLOWERS,
            "--tfhub_module",
            backbone,
            "--saved_model_dir",
            classifier,
            "--labels_output_file",
            labels,
            "--tflite_output_file",
            tflite,
            "--report_dir",
            report,
            *fast,
            "--cache_features",
            "--seed",
            str(args.seed),
        ],
    )
    _step("4a. check the classifier", ["check", classifier])
    photos = _pick_photos()
    _step(
        "4b. classify a few photos",
        ["classify", "--model", classifier, "--top_k", "3", *photos],
    )
    _step(
        "4c. embed every photo",
        [
            "embed",
            "--model",
            backbone,
            "--input",
            FLOWERS,
            "--output",
            embeddings,
        ],
    )
    _neighbours(embeddings, photos)
    metrics_path = os.path.join(report, "metrics.json")
    with open(metrics_path, encoding="utf-8") as f:
        metrics = json.load(f)
    accuracy = metrics.get("val_accuracy", metrics.get("accuracy"))
    elapsed = time.perf_counter() - start
    print("\n== where everything went")
    for label, path in (
        ("feature-vector SavedModel", backbone),
        ("flower classifier SavedModel", classifier),
        ("TFLite classifier", tflite),
        ("labels", labels),
        ("features (Parquet)", embeddings),
        ("report", os.path.join(report, "report.html")),
        ("checkpoints (resume)", checkpoints),
    ):
        print(f"  {label:30s} {path}")
    print(f"\nvalidation accuracy: {accuracy:.3f}  ({elapsed:.0f} s in all)")
    if metrics.get("recipe_summary"):
        print(metrics["recipe_summary"])
    print(
        "score the classifier on photos of your own (one folder per "
        f"class): imagehub evaluate --model {classifier} --image_dir DIR"
    )
    return 0
