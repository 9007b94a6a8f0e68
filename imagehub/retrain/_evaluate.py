"""Stage 5 of a run, `evaluate`: the trained classifier on the validation
images (and on the training images, for the gap between the two), with
accuracy, per-class precision and recall and the confusion matrix."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from imagehub.retrain._features import Data
from imagehub.retrain._features import decode_paths
from imagehub.retrain._features import images
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


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The final classifier on the validation images.

    Attributes:
        logits: [n, classes] logits of the validation images.
        labels: Their true class indices.
        predictions: Their predicted class indices.
        paths: Their files, aligned with `labels`.
        metrics: Accuracy, confusion matrix and per-class scores.
    """

    logits: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    paths: tuple[str, ...]
    metrics: ClassificationMetrics

    @property
    def accuracy(self) -> float:
        return self.metrics.accuracy


def evaluate(prepared: Prepared, model: Model, data: Data) -> Evaluation:
    """The final model's logits and scores on the validation images."""
    logits, labels, paths = _logits(
        prepared, model, data.val, data.val_features
    )
    predictions = np.argmax(logits, axis=-1)
    return Evaluation(
        logits=logits,
        labels=labels,
        predictions=predictions,
        paths=tuple(paths),
        metrics=classification_metrics(
            labels, predictions, list(prepared.class_names)
        ),
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
