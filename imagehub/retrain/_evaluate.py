"""Stage 5 of a run, `evaluate`: the trained classifier on the validation
images (and on the training images, for the gap between the two), with
accuracy, per-class precision and recall and the confusion matrix, and
what puts the accuracy in context (chance level, a hint). The metrics serve
`imagehub evaluate` too (`_evaluate_model.py`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from imagehub.retrain._features import Data
from imagehub.retrain._features import decode_paths
from imagehub.retrain._features import images
from imagehub.retrain._fit import FitResult
from imagehub.retrain._model import Model
from imagehub.retrain._prepare import Prepared


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


def wrong_answers(
    paths: Sequence[str], truth: Sequence[Any], predicted: Sequence[Any]
) -> list[dict[str, Any]]:
    """``{"path", "true", "predicted"}`` of each image whose prediction (a
    label, or a list of labels in class order) is not its truth."""
    return [
        {"path": p, "true": t, "predicted": q}
        for p, t, q in zip(paths, truth, predicted, strict=True)
        if t != q
    ]
