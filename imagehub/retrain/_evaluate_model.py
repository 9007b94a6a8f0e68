"""`imagehub.evaluate`: a trained classifier scored on a folder of labelled
images as a user's `classify` would run it (top-1 and top-5 accuracy,
per-class scores, confusion matrix, calibration, a page of the
misclassified images), or, for a multi-label model, on a labels CSV
(`_evaluate_multilabel.py`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from imagehub.retrain._calibration import Calibration
from imagehub.retrain._calibration import calibration
from imagehub.retrain._evaluate import ClassificationMetrics
from imagehub.retrain._evaluate import classification_metrics
from imagehub.retrain._evaluate import wrong_answers
from imagehub.retrain._evaluate_multilabel import MultiLabelEvaluation
from imagehub.retrain._evaluate_multilabel import evaluate_multi_label

OTHER = "(other)"


@dataclasses.dataclass(frozen=True)
class FolderEvaluation:
    """A classifier scored on a folder of labelled images.

    Attributes:
        model: The model's handle.
        image_dir: The images folder (one subfolder per class).
        class_names: The folder's classes, then ``"(other)"`` when the
            model predicted labels that are not among them.
        metrics: Top-1 accuracy, per-class precision, recall and F1, and
            the confusion matrix (rows: true class; columns: predicted).
        top5_accuracy: Share of images whose class is among the model's
            5 best (all classes when the model has fewer).
        paths: The images scored, in order.
        labels: Each image's true class (an index into `class_names`).
        predicted: Each image's top-1 label.
        confidences: Each image's top-1 score.
        skipped: ``(path, reason)`` of the files not scored.
        top_k: Each image's 5 best ``(label, score)``, best first.
    """

    model: str
    image_dir: str
    class_names: tuple[str, ...]
    metrics: ClassificationMetrics
    top5_accuracy: float
    paths: tuple[str, ...]
    labels: tuple[int, ...]
    predicted: tuple[str, ...]
    confidences: tuple[float, ...]
    skipped: tuple[tuple[str, str], ...]
    top_k: tuple[tuple[tuple[str, float], ...], ...] = ()

    @property
    def accuracy(self) -> float:
        return self.metrics.accuracy

    @property
    def calibration(self) -> Calibration:
        """Top-1 scores against top-1 accuracy (ECE, reliability bins)."""
        correct = [
            self.class_names[t] == q
            for t, q in zip(self.labels, self.predicted, strict=True)
        ]
        return calibration(np.asarray(self.confidences), np.asarray(correct))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `imagehub evaluate --json` prints."""
        metrics = self.metrics.to_dict()
        return {
            "model": self.model,
            "image_dir": self.image_dir,
            "accuracy": self.accuracy,
            "top5_accuracy": self.top5_accuracy,
            "count": self.metrics.count,
            "class_names": list(self.class_names),
            "confusion_matrix": metrics["confusion_matrix"],
            "per_class": metrics["per_class"],
            "calibration": self.calibration.to_dict(),
            "misclassified": wrong_answers(
                self.paths,
                [self.class_names[t] for t in self.labels],
                self.predicted,
            ),
            "skipped": [list(s) for s in self.skipped],
        }


def evaluate_classifier(
    model: str,
    image_dir: str,
    *,
    labels: str | None = None,
    batch_size: int = 32,
    image_size: Any = None,
    resize: str = "stretch",
) -> FolderEvaluation:
    """Scores a classifier on a folder with one subfolder per class.

    Folder names are matched to the model's labels (its card's, or
    `labels`), so any reusable classifier can be scored: imagehub's, TF
    Hub's, a retrained one. Images go through `imagehub.classify`, as a
    user's would.

    Args:
        model: A handle or path of the classifier.
        image_dir: One subfolder of images per class.
        labels: A labels file, when the model's card has no labels.
        batch_size: Images per model call.
        image_size: (height, width) or "H,W"; default: the model's.
        resize: How images are fitted to the input size.

    Returns:
        The `FolderEvaluation`.

    Raises:
        ValueError: The folder has no classes, the model has no labels, or
            a folder class is not among them.
        FileNotFoundError: `image_dir` does not exist.
    """
    from imagehub import data
    from imagehub import hub
    from imagehub.embed import classify

    index = data.scan(image_dir)
    if not index.labelled or not index.class_names:
        raise ValueError(
            f"image_dir {image_dir!r} must hold one subfolder of images per "
            "class"
        )
    names = list(index.class_names)
    known = hub.resolve_facts(model, labels=labels).labels
    if not known:
        raise ValueError(
            f"model {model!r} has no labels to match the class folders "
            "against; pass labels (--labels FILE)"
        )
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"class folders {unknown} of {image_dir!r} are not among the "
            f"labels of model {model!r} ({len(known)} labels, e.g. "
            f"{list(known[:5])}); rename the folders or pass --labels"
        )
    results = classify(
        model,
        list(index.paths),
        top_k=5,
        labels=labels,
        batch_size=batch_size,
        image_size=image_size,
        resize=resize,
    )
    true_of = dict(zip(index.paths, index.labels or [], strict=True))
    scored = [r for r in results if r["top_k"]]
    predicted = [r["top_k"][0]["label"] for r in scored]
    if any(p not in names for p in predicted):
        names.append(OTHER)
    column = {n: i for i, n in enumerate(names)}
    truth = [true_of[r["path"]] for r in scored]
    top5 = [
        names[t] in [e["label"] for e in r["top_k"]]
        for t, r in zip(truth, scored, strict=True)
    ]
    skipped = list(index.skipped) + [
        (r["path"], r.get("error", "")) for r in results if not r["top_k"]
    ]
    return FolderEvaluation(
        model=str(model),
        image_dir=str(image_dir),
        class_names=tuple(names),
        metrics=classification_metrics(
            np.asarray(truth, np.int64),
            np.asarray([column.get(p, len(names) - 1) for p in predicted]),
            names,
        ),
        top5_accuracy=float(np.mean(top5)) if top5 else 0.0,
        paths=tuple(r["path"] for r in scored),
        labels=tuple(truth),
        predicted=tuple(predicted),
        confidences=tuple(float(r["top_k"][0]["score"]) for r in scored),
        skipped=tuple(skipped),
        top_k=tuple(
            tuple((e["label"], float(e["score"])) for e in r["top_k"])
            for r in scored
        ),
    )


MISCLASSIFIED_FILE = "misclassified.html"
THUMBNAILS_DIR = "thumbnails"


def write_misclassified_page(
    result: FolderEvaluation,
    out: str,
    *,
    resize: str = "stretch",
    overwrite: bool = False,
) -> str:
    """Writes ``misclassified.html`` into `out` (which must exist): each
    misclassified image of `result` with its true and predicted label,
    top-1 score, top-k and a JPEG thumbnail in ``out/thumbnails/``.

    Returns:
        The page's path.

    Raises:
        OutputExistsError: The page or the thumbnails folder exists and
            `overwrite` is False.
    """
    import html
    import os

    from imagehub.outputs import atomic_directory
    from imagehub.outputs import atomic_file
    from imagehub.outputs import check_target
    from imagehub.retrain._thumbnails import thumbnail_figures
    from imagehub.retrain._thumbnails import write_thumbnails

    page = os.path.join(out, MISCLASSIFIED_FILE)
    check_target(page, overwrite=overwrite)
    items = []
    for i, (path, t, q) in enumerate(
        zip(result.paths, result.labels, result.predicted, strict=True)
    ):
        if result.class_names[t] == q:
            continue
        top = result.top_k[i] if result.top_k else ()
        items.append(
            {
                "path": path,
                "true": result.class_names[t],
                "predicted": q,
                "detail": f"score {result.confidences[i]:.3f}; top-k: "
                + ", ".join(f"{n} {s:.3f}" for n, s in top),
            }
        )
    with atomic_directory(
        os.path.join(out, THUMBNAILS_DIR), overwrite=overwrite
    ) as tmp:
        write_thumbnails(tmp, items, resize, THUMBNAILS_DIR)
    figures = thumbnail_figures(items) or "<p>None: every image is right.</p>"
    e = html.escape
    text = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>misclassified images</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 1em auto; }}
figure {{ display: inline-block; margin: 4px; width: 160px;
  font-size: 80%; vertical-align: top; }}
figcaption small {{ word-break: break-all; }}
</style></head><body>
<h1>Misclassified images ({len(items)} of {result.metrics.count})</h1>
<p>Model {e(result.model)} on {e(result.image_dir)}: accuracy
{result.accuracy:.1%}. Caption: true class &rarr; <b>predicted</b>.</p>
{figures}
</body></html>
"""
    with atomic_file(page, overwrite=overwrite) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return page


def evaluate_model(
    model: str,
    image_dir: str | None = None,
    *,
    labels: str | None = None,
    labels_csv: str | None = None,
    batch_size: int = 32,
    image_size: Any = None,
    resize: str = "stretch",
) -> FolderEvaluation | MultiLabelEvaluation:
    """`imagehub.evaluate`: scores a classifier on labelled images.

    Args:
        model: A handle or path of the classifier.
        image_dir: One subfolder of images per class; with `labels_csv`,
            the folder relative CSV paths start from.
        labels: A labels file, when the model's card has no labels.
        labels_csv: For a multi-label model: ``path,labels`` rows.
        batch_size: Images per model call.
        image_size: (height, width) or "H,W"; default: the model's.
        resize: How images are fitted to the input size.

    Returns:
        A `FolderEvaluation` (top-1/top-5 accuracy, per-class scores,
        confusion matrix, calibration) or, with `labels_csv`, a
        `MultiLabelEvaluation` (mAP, per-class F1 at the card's
        thresholds).

    Raises:
        ValueError: Neither `image_dir` nor `labels_csv`, or what
            `evaluate_classifier` / `evaluate_multi_label` refuse.

    Example:
        >>> result = imagehub.evaluate("model_dir", "photos/")
        >>> result.accuracy, result.calibration.expected_calibration_error
    """
    common = {
        "batch_size": batch_size,
        "image_size": image_size,
        "resize": resize,
    }
    if labels_csv is not None:
        return evaluate_multi_label(
            model, labels_csv, image_dir=image_dir, **common
        )
    if image_dir is None:
        raise ValueError(
            "evaluate needs image_dir (one subfolder per class) or, for a "
            "multi-label model, labels_csv"
        )
    return evaluate_classifier(model, image_dir, labels=labels, **common)
