"""Stage 5 of a run, `evaluate`: the trained classifier on the validation
images (and on the training images, for the gap between the two), with
accuracy, per-class precision and recall and the confusion matrix, and
what puts the accuracy in context (chance level, a hint)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from imagehub.retrain._features import Data
from imagehub.retrain._features import decode_paths
from imagehub.retrain._features import images
from imagehub.retrain._model import Model
from imagehub.retrain._prepare import Prepared
from imagehub.retrain._train import FitResult


@dataclasses.dataclass(frozen=True)
class ClassScores:
    """One class's scores; precision of a class nobody predicted (and
    recall of a class with no images) is None rather than a made-up
    number."""

    name: str
    precision: float | None
    recall: float | None
    support: int

    @property
    def f1(self) -> float | None:
        """The harmonic mean of precision and recall, when both exist."""
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


@dataclasses.dataclass(frozen=True)
class ClassificationMetrics:
    """Accuracy, confusion matrix (rows: true class, columns: predicted)
    and per-class scores of predictions against labels."""

    accuracy: float
    count: int
    confusion_matrix: tuple[tuple[int, ...], ...]
    per_class: tuple[ClassScores, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to metrics.json (``validation``)."""
        return {
            "accuracy": self.accuracy,
            "count": self.count,
            "confusion_matrix": [list(row) for row in self.confusion_matrix],
            "per_class": [
                {
                    "class": c.name,
                    "precision": c.precision,
                    "recall": c.recall,
                    "f1": c.f1,
                    "support": c.support,
                }
                for c in self.per_class
            ],
        }


def classification_metrics(
    labels: np.ndarray, predictions: np.ndarray, class_names: list[str]
) -> ClassificationMetrics:
    """Accuracy, confusion matrix and per-class precision and recall."""
    k = len(class_names)
    labels = np.asarray(labels, np.int64)
    predictions = np.asarray(predictions, np.int64)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class = []
    for c, name in enumerate(class_names):
        tp = int(confusion[c, c])
        predicted = int(confusion[:, c].sum())
        actual = int(confusion[c, :].sum())
        per_class.append(
            ClassScores(
                name=name,
                precision=tp / predicted if predicted else None,
                recall=tp / actual if actual else None,
                support=actual,
            )
        )
    n = len(labels)
    return ClassificationMetrics(
        accuracy=float(np.mean(labels == predictions)) if n else 0.0,
        count=n,
        confusion_matrix=tuple(tuple(int(x) for x in row) for row in confusion),
        per_class=tuple(per_class),
    )


# A validation accuracy this close to chance level, or a training
# accuracy this far above the validation one, earns a hint.
NEAR_CHANCE_MARGIN = 0.1
LARGE_GAP = 0.15


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The final classifier on the validation images, with what puts its
    accuracy in context.

    Attributes:
        logits: [n, classes] logits of the validation images.
        labels: Their true class indices.
        predictions: Their predicted class indices.
        paths: Their files, aligned with `labels`.
        metrics: Accuracy, confusion matrix and per-class scores.
        train_accuracy: The same model's accuracy on the training images
            (in inference mode: no dropout, no augmentation).
        chance_level: The validation accuracy of guessing: 1 / classes,
            or always naming the most common training class when that
            scores more.
        chance_basis: How `chance_level` guesses, for messages.
    """

    logits: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    paths: tuple[str, ...]
    metrics: ClassificationMetrics
    train_accuracy: float
    chance_level: float
    chance_basis: str

    @property
    def accuracy(self) -> float:
        return self.metrics.accuracy

    @property
    def gap(self) -> float:
        """Training minus validation accuracy (overfitting when large)."""
        return self.train_accuracy - self.accuracy

    @property
    def hint(self) -> str | None:
        """One line on what to try when the accuracy is near chance or
        far below the training accuracy; None otherwise."""
        if self.accuracy <= self.chance_level + NEAR_CHANCE_MARGIN:
            return (
                "validation accuracy is near chance level: check that each "
                "class folder holds what its name says, train longer "
                "(--train_epochs), or try a stronger --tfhub_module "
                "(imagehub compare ranks modules on your images)"
            )
        if self.gap >= LARGE_GAP:
            return (
                f"training accuracy is {self.gap:.2f} above validation "
                "accuracy (overfitting): more images per class, "
                "--do_data_augmentation, or a stronger --tfhub_module "
                "(imagehub compare ranks modules on your images) usually help"
            )
        return None

    def context(self) -> str:
        """Chance level and the training accuracy beside the validation
        accuracy, in one line."""
        return (
            f"chance level {self.chance_level:.4f} ({self.chance_basis}); "
            f"training accuracy {self.train_accuracy:.4f} (gap "
            f"{self.gap:+.4f})"
        )


def chance_level(
    train_labels: np.ndarray, val_labels: np.ndarray, class_names: list[str]
) -> tuple[float, str]:
    """The accuracy of guessing on the validation images, and how: one
    class in k at random, or always the most common training class."""
    k = len(class_names)
    counts = np.bincount(np.asarray(train_labels, np.int64), minlength=k)
    common = int(np.argmax(counts))
    val_labels = np.asarray(val_labels, np.int64)
    always = float(np.mean(val_labels == common)) if len(val_labels) else 0.0
    if always > 1.0 / k:
        return always, f"always {class_names[common]!r}"
    return 1.0 / k, f"1 in {k} classes"


def evaluate(
    prepared: Prepared, model: Model, data: Data, fit: FitResult
) -> Evaluation:
    """The trained model's logits and scores on the validation images, and
    its accuracy on the training images. When imagehub's recipe trained
    the final model on the validation images too, these are the numbers of
    its model trained on the training images only."""
    names = list(prepared.class_names)
    if (
        fit.recipe is not None
        and fit.recipe.refit
        and data.val_features is not None
        and data.train_features is not None
    ):
        head = fit.recipe.selection
        logits = head.logits(data.val_features)
        labels = np.asarray(data.val.labels)
        paths = list(data.val.paths)
        train_logits = head.logits(data.train_features)
        train_labels = np.asarray(data.train.labels)
    else:
        logits, labels, paths = _logits(
            prepared, model, data.val, data.val_features
        )
        train_logits, train_labels, _ = _logits(
            prepared, model, data.train, data.train_features
        )
    predictions = np.argmax(logits, axis=-1)
    train_accuracy = float(
        np.mean(np.argmax(train_logits, axis=-1) == train_labels)
    )
    chance, basis = chance_level(train_labels, labels, names)
    return Evaluation(
        logits=logits,
        labels=labels,
        predictions=predictions,
        paths=tuple(paths),
        metrics=classification_metrics(labels, predictions, names),
        train_accuracy=train_accuracy,
        chance_level=chance,
        chance_basis=basis,
    )


def _logits(
    prepared: Prepared, model: Model, index, features: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(logits, labels, paths) of `index`'s images, from their cached
    `features` when there are some."""
    if features is not None:
        bs = prepared.config.batch_size
        logits = [
            np.asarray(model.head(features[i : i + bs]))
            for i in range(0, len(features), bs)
        ]
        return (
            np.concatenate(logits),
            np.asarray(index.labels),
            list(index.paths),
        )
    label_of = dict(zip(index.paths, index.labels, strict=True))
    chunks, labels, paths = [], [], []
    for batch, batch_paths in images(prepared, model, index, True):
        chunks.append(np.asarray(model.classifier(batch, training=False)))
        names = decode_paths(batch_paths)
        paths += names
        labels += [label_of[p] for p in names]
    return np.concatenate(chunks), np.asarray(labels), paths


# --- calibration --------------------------------------------------------------

CALIBRATION_BINS = 10


@dataclasses.dataclass(frozen=True)
class Calibration:
    """How well top-1 scores match accuracy: the images' top-1 scores in
    equal-width bins over [0, 1] (Guo et al. 2017, "On Calibration of
    Modern Neural Networks").

    Attributes:
        expected_calibration_error: Sum over bins of (share of images in
            the bin) * |accuracy - mean top-1 score|; 0 is perfect.
        edges: The bins' bounds, ``CALIBRATION_BINS + 1`` values.
        confidence: Per bin, the mean top-1 score (None: empty bin).
        accuracy: Per bin, the share of right top-1 answers (None: empty).
        counts: Per bin, the number of images.
    """

    expected_calibration_error: float
    edges: tuple[float, ...]
    confidence: tuple[float | None, ...]
    accuracy: tuple[float | None, ...]
    counts: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "expected_calibration_error": self.expected_calibration_error,
            "bins": [
                {
                    "lower": lo,
                    "upper": hi,
                    "confidence": c,
                    "accuracy": a,
                    "count": n,
                }
                for lo, hi, c, a, n in zip(
                    self.edges[:-1],
                    self.edges[1:],
                    self.confidence,
                    self.accuracy,
                    self.counts,
                    strict=True,
                )
            ],
        }


def calibration(
    confidences: np.ndarray,
    correct: np.ndarray,
    bins: int = CALIBRATION_BINS,
) -> Calibration:
    """The `Calibration` of top-1 scores `confidences` whose answers were
    `correct` (booleans); a score of exactly 1 falls in the last bin."""
    conf = np.asarray(confidences, np.float64)
    right = np.asarray(correct, np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    n = len(conf)
    ece = 0.0
    mean_conf: list[float | None] = []
    mean_acc: list[float | None] = []
    counts = []
    for b in range(bins):
        member = which == b
        count = int(member.sum())
        counts.append(count)
        if not count:
            mean_conf.append(None)
            mean_acc.append(None)
            continue
        c, a = float(conf[member].mean()), float(right[member].mean())
        mean_conf.append(c)
        mean_acc.append(a)
        ece += count / n * abs(a - c)
    return Calibration(
        expected_calibration_error=ece,
        edges=tuple(float(e) for e in edges),
        confidence=tuple(mean_conf),
        accuracy=tuple(mean_acc),
        counts=tuple(counts),
    )


def write_reliability_diagram(
    result: Calibration, path: str, *, overwrite: bool = False
) -> None:
    """Writes `result` as a reliability diagram PNG (accuracy per bin of
    top-1 score, against the diagonal of perfect calibration).

    Raises:
        OutputExistsError: `path` exists and `overwrite` is False.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from imagehub.outputs import atomic_file

    edges = np.asarray(result.edges)
    width = edges[1:] - edges[:-1]
    accuracy = [a if a is not None else 0.0 for a in result.accuracy]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.bar(
        edges[:-1], accuracy, width=width, align="edge", edgecolor="black",
        alpha=0.7, label="accuracy",
    )  # fmt: skip
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-1 score")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {result.expected_calibration_error:.3f})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_file(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


# --- a trained classifier on a labelled folder -------------------------------

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
            "misclassified": _wrong(
                self.paths,
                [self.class_names[t] for t in self.labels],
                self.predicted,
            ),
            "skipped": [list(s) for s in self.skipped],
        }


def _wrong(
    paths: Sequence[str], truth: Sequence[Any], predicted: Sequence[Any]
) -> list[dict[str, Any]]:
    """``{"path", "true", "predicted"}`` of each image whose prediction (a
    label, or a list of labels in class order) is not its truth."""
    return [
        {"path": p, "true": t, "predicted": q}
        for p, t, q in zip(paths, truth, predicted, strict=True)
        if t != q
    ]


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


# --- a multi-label classifier on a labels CSV --------------------------------


@dataclasses.dataclass(frozen=True)
class MultiLabelEvaluation:
    """A multi-label (sigmoid) classifier scored on a labels CSV.

    Attributes:
        model: The model's handle.
        labels_csv: The CSV of ``path,labels`` rows.
        class_names: The model's labels, in index order.
        thresholds: Per class, the card's threshold a score must reach.
        mean_average_precision: mAP over the classes with positive images.
        average_precision: Per class AP (None: no positive image).
        f1: Per class F1 of the thresholded predictions.
        subset_accuracy: Share of images whose predicted label set is
            exactly their true one.
        paths: The images scored, in order.
        targets: Their true labels, [images, classes] of 0 and 1.
        scores: Their sigmoid scores, [images, classes].
        skipped: ``(path, reason)`` of the files not scored.
    """

    model: str
    labels_csv: str
    class_names: tuple[str, ...]
    thresholds: tuple[float, ...]
    mean_average_precision: float
    average_precision: tuple[float | None, ...]
    f1: tuple[float, ...]
    subset_accuracy: float
    paths: tuple[str, ...]
    targets: np.ndarray
    scores: np.ndarray
    skipped: tuple[tuple[str, str], ...]

    @property
    def count(self) -> int:
        return len(self.paths)

    def predicted(self) -> list[list[str]]:
        """Each image's predicted labels (score >= threshold)."""
        over = self.scores >= np.asarray(self.thresholds)[None, :]
        return [
            [n for n, on in zip(self.class_names, row, strict=True) if on]
            for row in over
        ]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `imagehub evaluate --labels_csv --json` prints."""
        truth = [
            [n for n, t in zip(self.class_names, row, strict=True) if t > 0.5]
            for row in self.targets
        ]
        return {
            "model": self.model,
            "labels_csv": self.labels_csv,
            "multi_label": True,
            "count": self.count,
            "mean_average_precision": self.mean_average_precision,
            "subset_accuracy": self.subset_accuracy,
            "class_names": list(self.class_names),
            "per_class": [
                {
                    "class": n,
                    "threshold": t,
                    "average_precision": ap,
                    "f1": f,
                    "support": int(s),
                }
                for n, t, ap, f, s in zip(
                    self.class_names,
                    self.thresholds,
                    self.average_precision,
                    self.f1,
                    self.targets.sum(axis=0),
                    strict=True,
                )
            ],
            "wrong": _wrong(self.paths, truth, self.predicted()),
            "skipped": [list(s) for s in self.skipped],
        }


def evaluate_multi_label(
    model: str,
    labels_csv: str,
    *,
    image_dir: str | None = None,
    batch_size: int = 32,
    image_size: Any = None,
    resize: str = "stretch",
) -> MultiLabelEvaluation:
    """Scores a multi-label classifier on the images of a labels CSV.

    The model must be a sigmoid classifier whose card carries per-class
    thresholds (what `retrain --multi_label` exports): its predicted label
    set is every class whose score reaches its threshold, as `classify`
    reports it.

    Args:
        model: A handle or path of the classifier.
        labels_csv: ``path,labels`` rows, labels separated by ``;``.
        image_dir: Folder relative CSV paths start from (default: the
            CSV's folder).
        batch_size: Images per model call.
        image_size: (height, width) or "H,W"; default: the model's.
        resize: How images are fitted to the input size.

    Returns:
        The `MultiLabelEvaluation`.

    Raises:
        ValueError: The model is not a multi-label classifier with
            thresholds, or the CSV names labels the model does not have.
    """
    from imagehub import hub
    from imagehub.embed import card_thresholds
    from imagehub.embed import classify
    from imagehub.retrain._multilabel import average_precision
    from imagehub.retrain._multilabel import f1_scores
    from imagehub.retrain._multilabel import read_labels_csv

    facts = hub.resolve_facts(model)
    names = list(facts.labels or ())
    thresholds = (
        card_thresholds(facts.card, facts.activation or "", len(names))
        if names
        else None
    )
    if thresholds is None:
        raise ValueError(
            f"model {model!r} is not a multi-label classifier (a card with "
            "activation 'sigmoid', labels and extra['thresholds'], as "
            "`imagehub retrain --multi_label` exports); evaluate it with "
            "--image_dir instead of --labels_csv"
        )
    csv = read_labels_csv(labels_csv, image_dir)
    unknown = [n for n in csv.class_names if n not in names]
    if unknown:
        raise ValueError(
            f"labels {unknown} of {labels_csv!r} are not among the labels "
            f"of model {model!r} ({names})"
        )
    results = classify(
        model,
        list(csv.paths),
        top_k=len(names),
        batch_size=batch_size,
        image_size=image_size,
        resize=resize,
    )
    column = {n: i for i, n in enumerate(names)}
    target_of = {}
    for path, row in zip(csv.paths, csv.targets, strict=True):
        target = np.zeros(len(names))
        for j, on in enumerate(row):
            target[column[csv.class_names[j]]] = on
        target_of[path] = target
    scored = [r for r in results if r["top_k"]]
    scores = np.zeros((len(scored), len(names)))
    for i, r in enumerate(scored):
        for e in r["top_k"]:
            scores[i, e["index"]] = e["score"]
    targets = np.asarray([target_of[r["path"]] for r in scored])
    targets = targets.reshape(len(scored), len(names))
    aps = [
        average_precision(scores[:, k], targets[:, k]) for k in column.values()
    ]
    present = [a for a in aps if not np.isnan(a)]
    predicted = scores >= thresholds[None, :]
    exact = np.all(predicted == (targets > 0.5), axis=1)
    return MultiLabelEvaluation(
        model=str(model),
        labels_csv=str(labels_csv),
        class_names=tuple(names),
        thresholds=tuple(float(t) for t in thresholds),
        mean_average_precision=(
            float(np.mean(present)) if present else float("nan")
        ),
        average_precision=tuple(None if np.isnan(a) else a for a in aps),
        f1=tuple(float(f) for f in f1_scores(scores, targets, thresholds)),
        subset_accuracy=float(np.mean(exact)) if len(exact) else 0.0,
        paths=tuple(r["path"] for r in scored),
        targets=targets,
        scores=scores,
        skipped=tuple(
            (r["path"], r.get("error", "")) for r in results if not r["top_k"]
        ),
    )


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
