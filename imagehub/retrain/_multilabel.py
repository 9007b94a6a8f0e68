"""Multi-label classes (``--multi_label``): the labels CSV, the scores (mAP,
per-class F1) and the per-class thresholds, shared by retraining
(`_multilabel_run.py`) and `imagehub evaluate`.

Each class gets the threshold on its probability that maximizes its F1 on
the validation images; the exported SavedModel's card records
``activation: sigmoid`` (SPEC C3) and the thresholds in class order under
``extra["thresholds"]``.
"""

from __future__ import annotations

import csv
import dataclasses
import os

import numpy as np

from imagehub.retrain._errors import FlagValueError

LABEL_SEPARATOR = ";"
CARD_THRESHOLDS = "thresholds"
DEFAULT_THRESHOLD = 0.5


@dataclasses.dataclass(frozen=True)
class LabelledImages:
    """The rows of a labels CSV.

    Attributes:
        paths: Image files, in the CSV's order.
        targets: float32 [len(paths), len(class_names)], 1 where the image
            shows the class.
        class_names: Sorted class names found in the CSV.
    """

    paths: tuple[str, ...]
    targets: np.ndarray
    class_names: tuple[str, ...]


def read_labels_csv(path: str, image_dir: str | None = None) -> LabelledImages:
    """Reads ``path,labels`` rows (labels separated by ``;``).

    Args:
        path: The CSV file. A first row ``path,labels`` is a header.
        image_dir: Folder relative image paths start from; None means the
            CSV's own folder.

    Returns:
        The images and their classes.

    Raises:
        FlagValueError: The file is missing, a row is malformed or names
            no label, or fewer than two classes appear.
    """
    base = image_dir or os.path.dirname(os.path.abspath(path))
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise FlagValueError(f"--labels_csv {path!r}: {e.strerror}") from e
    if rows and [c.strip().lower() for c in rows[0]] == ["path", "labels"]:
        rows = rows[1:]
    paths: list[str] = []
    labels: list[set[str]] = []
    for number, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip():
            continue
        names = (
            {n.strip() for n in row[1].split(LABEL_SEPARATOR)} - {""}
            if len(row) == 2
            else set()
        )
        if not names or not row[0].strip():
            raise FlagValueError(
                f"--labels_csv {path!r} row {number}: {row!r}; expected "
                "'path,label1;label2' (quote the path if it has a comma)"
            )
        paths.append(os.path.join(base, row[0].strip()))
        labels.append(names)
    class_names = tuple(sorted(set().union(*labels)))
    if len(class_names) < 2:
        raise FlagValueError(
            f"--labels_csv {path!r} names {len(class_names)} classes "
            f"({', '.join(class_names)}); multi-label training needs at "
            "least two"
        )
    column = {name: i for i, name in enumerate(class_names)}
    targets = np.zeros((len(paths), len(class_names)), np.float32)
    for i, names in enumerate(labels):
        targets[i, [column[n] for n in names]] = 1.0
    return LabelledImages(tuple(paths), targets, class_names)


# --- scores ------------------------------------------------------------


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Average precision of one class (area under the precision-recall
    steps, as scikit-learn's), or NaN without positive images."""
    positives = float(targets.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = targets[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / positives)


def mean_average_precision(probs: np.ndarray, targets: np.ndarray) -> float:
    """mAP over the classes that have positive images."""
    aps = [
        average_precision(probs[:, k], targets[:, k])
        for k in range(targets.shape[1])
    ]
    present = [a for a in aps if not np.isnan(a)]
    return float(np.mean(present)) if present else float("nan")


def f1_scores(
    probs: np.ndarray, targets: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """Per-class F1 of ``probs >= thresholds`` (0 where a class is never
    predicted nor present)."""
    predicted = probs >= thresholds[None, :]
    truth = targets > 0.5
    tp = (predicted & truth).sum(axis=0).astype(np.float64)
    denominator = predicted.sum(axis=0) + truth.sum(axis=0)
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def choose_thresholds(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per class, the threshold that maximizes F1 on these images: midway
    between two neighbouring probabilities, so it does not sit on one
    image's score; `DEFAULT_THRESHOLD` for a class without positives."""
    thresholds = np.full(targets.shape[1], DEFAULT_THRESHOLD, np.float64)
    for k in range(targets.shape[1]):
        if not targets[:, k].any():
            continue
        values = np.unique(probs[:, k])
        candidates = np.concatenate(
            [[values[0] / 2], (values[:-1] + values[1:]) / 2]
        )
        scores = [
            f1_scores(probs[:, k : k + 1], targets[:, k : k + 1], np.array([t]))
            for t in candidates
        ]
        thresholds[k] = candidates[int(np.argmax(scores))]
    return thresholds
