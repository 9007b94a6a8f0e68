"""Benchmark: held-out accuracy of `imagehub retrain`'s default recipe
against make_image_classifier's (`--recipe make_image_classifier`).

On the 150 flower photos bundled with imagehub (5 classes) and the bundled
MobileNet V1 0.25 exported as a feature vector: the photos are cut into 5
stratified folds; for each fold, the other four folds (120 photos) are
linked into a fresh image folder and retrained on with both recipes, with
each of several seeds (`--seed` of retrain: the split of those 120 into
training and validation, 96 + 24, the initial weights, the batch order),
the same seed for both recipes, and the same cached features. Each model
is then scored on the held-out fold (30 photos), which neither recipe saw
in any way: not for training, not for choosing settings. The new recipe's
final model is trained on all 120 photos, the old one's on the 96.

Reported: mean held-out accuracy; its spread across seeds (the standard
deviation over seeds on the same held-out photos, averaged over the
folds: how much a result depends on the seed); and the standard deviation
over all runs (which adds the sampling noise of 30 held-out photos).
Goals (issue 16): mean >= old + 0.05, and a smaller spread across seeds.
Writes bench/results/retrain_quality.md and .json.

Run: python bench/retrain_quality.py [--seeds 3] [--folds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from _common import describe_machine
from _common import load_average
from _common import write_results
from retrain import FLOWERS
from retrain import ROOT
from retrain import export_module

sys.path.insert(0, ROOT)

RECIPES = ("imagehub", "make_image_classifier")
GOAL_GAIN = 0.05


def stratified_folds(labels: list[int], folds: int, seed: int):
    """`folds` lists of positions, each class spread evenly over them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    labels_array = np.asarray(labels)
    for c in sorted(set(labels)):
        members = rng.permutation(np.flatnonzero(labels_array == c))
        for i, position in enumerate(members):
            parts[i % folds].append(int(position))
    return parts


def link_folder(index, positions: list[int], folder: str) -> None:
    """An image folder of symbolic links to `index`'s images at
    `positions`, one subfolder per class."""
    for p in positions:
        label = index.class_names[index.labels[p]]
        os.makedirs(os.path.join(folder, label), exist_ok=True)
        src = index.paths[p]
        os.symlink(src, os.path.join(folder, label, os.path.basename(src)))


def held_out_accuracy(model, index, positions, image_size) -> float:
    import numpy as np

    from imagehub import data

    part = index.subset(positions)
    correct = 0
    for images, labels in data.dataset(part, image_size, batch_size=32):
        logits = np.asarray(model(images, training=False))
        correct += int(np.sum(np.argmax(logits, -1) == labels.numpy()))
    return correct / len(part)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--module", help="an exported feature vector")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from imagehub import data
    from imagehub.retrain import make_image_classifier

    scratch = tempfile.mkdtemp(prefix="imagehub-bench-quality-")
    module = args.module or os.path.join(scratch, "module")
    if not args.module:
        export_module(module)
    index = data.scan(FLOWERS)
    load_before = load_average()
    rows = []
    start = time.perf_counter()
    folds = stratified_folds(index.labels, args.folds, 0)
    for f, held_out in enumerate(folds):
        train = sorted(set(range(len(index))) - set(held_out))
        folder = os.path.join(scratch, f"fold_{f}")
        link_folder(index, train, folder)
        for seed in range(args.seeds):
            for recipe in RECIPES:
                result = make_image_classifier(
                    image_dir=folder,
                    tfhub_module=module,
                    seed=seed,
                    recipe=recipe,
                    cache_features=True,
                    # Shared by both recipes: the same cached features.
                    checkpoint_dir=folder + "_cache",
                    overwrite=True,
                )
                accuracy = held_out_accuracy(
                    result.model, index, held_out, result.image_size
                )
                rows.append(
                    {
                        "seed": seed,
                        "fold": f,
                        "recipe": recipe,
                        "held_out_accuracy": accuracy,
                        "val_accuracy": result.val_accuracy,
                        "num_train": result.metrics["num_train"],
                        "num_held_out": len(held_out),
                        "chosen": result.recipe,
                    }
                )
                print(
                    f"seed {seed} fold {f} {recipe}: held-out "
                    f"{accuracy:.3f} (validation {result.val_accuracy:.3f})",
                    flush=True,
                )
    seconds = time.perf_counter() - start
    summary = {}
    for recipe in RECIPES:
        mine = [r for r in rows if r["recipe"] == recipe]
        accs = [r["held_out_accuracy"] for r in mine]
        seed_spread = [
            statistics.pstdev(
                r["held_out_accuracy"] for r in mine if r["fold"] == f
            )
            for f in range(args.folds)
        ]
        summary[recipe] = {
            "mean": statistics.mean(accs),
            "seed_spread": statistics.mean(seed_spread),
            "std_runs": statistics.stdev(accs),
            "min": min(accs),
            "max": max(accs),
            "runs": len(accs),
        }
    new, old = summary["imagehub"], summary["make_image_classifier"]
    gain = new["mean"] - old["mean"]
    wins = sum(
        a["held_out_accuracy"] > b["held_out_accuracy"]
        for a, b in zip(rows[0::2], rows[1::2], strict=True)
    )
    ties = sum(
        a["held_out_accuracy"] == b["held_out_accuracy"]
        for a, b in zip(rows[0::2], rows[1::2], strict=True)
    )
    passed = gain >= GOAL_GAIN and new["seed_spread"] < old["seed_spread"]
    machine = describe_machine(
        f"load {load_before:.1f} before, {load_average():.1f} after"
    )
    lines = [
        "# Retraining quality: imagehub's recipe vs make_image_classifier's",
        "",
        "Written by `bench/retrain_quality.py`. The 150 bundled flower "
        "photos (5 classes), the bundled MobileNet V1 0.25 feature vector; "
        f"{args.folds} stratified folds x {args.seeds} seeds. Each run "
        "retrains on 4 folds (both recipes: same seed, same 96/24 "
        "training/validation split, same cached features) and scores on "
        "the held-out fold, never seen by either recipe.",
        "",
        "| recipe | mean held-out accuracy | spread across seeds | "
        "std over all runs | min | max |",
        "|---|---|---|---|---|---|",
    ]
    for recipe in RECIPES:
        s = summary[recipe]
        lines.append(
            f"| `{recipe}` | {s['mean']:.3f} | {s['seed_spread']:.3f} | "
            f"{s['std_runs']:.3f} | {s['min']:.3f} | {s['max']:.3f} |"
        )
    lines += [
        "",
        f"Gain: {gain:+.3f} (goal >= +{GOAL_GAIN}); the new recipe is "
        f"better in {wins} of {len(rows) // 2} runs, equal in {ties}. "
        f"Spread across seeds {new['seed_spread']:.3f} vs "
        f"{old['seed_spread']:.3f} (goal: smaller). "
        f"{'PASSED' if passed else 'NOT MET'}.",
        "",
        "Spread across seeds: the standard deviation of held-out accuracy "
        "over the seeds for the same held-out photos, averaged over the "
        "folds. The standard deviation over all runs also holds the "
        "sampling noise of 30 held-out photos (about 0.08 at 75%), which "
        "no recipe removes.",
        "",
        f"Machine: {machine}; {seconds:.0f} s for {len(rows)} retraining runs.",
        "",
    ]
    write_results(
        "retrain_quality",
        "\n".join(lines),
        {
            "name": "retrain_quality",
            "baseline": "--recipe make_image_classifier (the old tool's "
            "5 epochs of SGD), same features and splits",
            "ratio": new["mean"] / old["mean"],
            "gain": gain,
            "goal": f"mean held-out accuracy >= old + {GOAL_GAIN}, "
            "smaller spread",
            "passed": passed,
            "machine": machine,
            "summary": summary,
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
