"""A multi-label (sigmoid) classifier scored on the images of a labels CSV
at its card's per-class thresholds: mAP, per-class AP and F1, and the share
of images whose whole label set is right (`imagehub evaluate
--labels_csv`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from imagehub.retrain._evaluate import wrong_answers


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
            "wrong": wrong_answers(self.paths, truth, self.predicted()),
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
