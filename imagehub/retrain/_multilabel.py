"""Multi-label retraining (``--multi_label``): images that may show several
classes at once.

The run reads top to bottom like the single-label one, on cached features
of the frozen module::

    read_labels_csv -> prepare -> build -> features -> fit -> thresholds
    -> score -> export

The head is the same Dropout -> Dense logits, trained with binary cross-
entropy (one sigmoid per class) by the same recipe as single-label heads
(`_recipe.py`: learning rate and L2 searched with early stopping on the
validation images), without the final refit on the validation images, where
the thresholds are chosen. Each class gets the threshold on its probability
that maximizes its F1 on the validation images; the exported SavedModel's
card records ``activation: sigmoid`` (SPEC C3) and the thresholds in class
order under ``extra["thresholds"]``. Scores: mean average precision (mAP,
threshold free) and per-class F1 at the chosen thresholds, both on the
validation images (F1 is optimistic there: the thresholds were chosen on
them).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
from typing import Any

import numpy as np

from imagehub.retrain._config import STAGE_EXPORT
from imagehub.retrain._config import ProgressFn
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._config import default_report_dir
from imagehub.retrain._config import report
from imagehub.retrain._errors import FlagValueError
from imagehub.retrain._prepare import Prepared
from imagehub.retrain._prepare import check_outputs
from imagehub.retrain._prepare import resolve_module
from imagehub.retrain._prepare import split_images
from imagehub.retrain._prepare import warn_left_out

logger = logging.getLogger(__name__)

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


# --- the run -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MultiLabelRun:
    """What a multi-label run produced (see `RetrainResult`).

    Attributes:
        thresholds: Per-class probability thresholds, in class order.
        mean_average_precision: mAP on the validation images.
        f1: Per-class F1 at `thresholds` on the validation images.
        subset_accuracy: Fraction of validation images whose whole set of
            classes is predicted exactly.
    """

    prepared: Prepared
    model: Any
    thresholds: tuple[float, ...]
    mean_average_precision: float
    f1: tuple[float, ...]
    subset_accuracy: float
    train_subset_accuracy: float
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    outputs: dict[str, str]
    skipped: tuple[tuple[str, str], ...]
    val_count: int
    epochs_run: int
    recipe: str | None


def prepare_multi_label(config: RetrainConfig) -> Prepared:
    """Reads the CSV, checks the outputs, seeds and splits the images."""
    import random

    import keras

    from imagehub import data

    if config.tflite_output_file:
        raise FlagValueError(
            "--tflite_output_file is not supported with --multi_label yet; "
            "export the SavedModel and convert it with `imagehub export`"
        )
    if config.resume:
        raise FlagValueError("--resume is not supported with --multi_label")
    labelled = read_labels_csv(config.labels_csv or "", config.image_dir)
    missing = [p for p in labelled.paths if not os.path.isfile(p)]
    if missing:
        raise FlagValueError(
            f"--labels_csv names {len(missing)} files that do not exist, "
            f"e.g. {missing[0]!r}; fix the paths (relative ones start "
            "from --image_dir, else from the CSV's folder)"
        )
    module_dir, card = resolve_module(config)
    report_dir = default_report_dir(config)
    check_outputs(config, None, report_dir)
    seed = config.seed
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    keras.utils.set_random_seed(int(seed))
    # Row i of the targets is image i: the index's labels carry the row.
    images = data.ImageIndex(
        paths=list(labelled.paths),
        labels=None,
        class_names=[],
    )
    train, val = split_images(images, config.validation_split, int(seed))
    return Prepared(
        config=config,
        seed=int(seed),
        image_dir=config.image_dir or os.path.dirname(config.labels_csv or ""),
        images=labelled,
        train=train,
        val=val,
        class_names=labelled.class_names,
        skipped=(),
        module_dir=module_dir,
        card=card,
        checkpoint_dir=None,
        report_dir=report_dir,
    )


def _features_and_targets(prepared: Prepared, model, index, progress):
    from imagehub.retrain._features import _features_of

    features, positions = _features_of(prepared, model, index, progress)
    row = {p: i for i, p in enumerate(prepared.images.paths)}
    kept = {index.paths[i] for i in positions}
    skipped = [(p, "does not decode") for p in index.paths if p not in kept]
    for path, reason in skipped:
        warn_left_out(path, reason)
    rows = [row[index.paths[i]] for i in positions]
    return features, prepared.images.targets[rows], skipped


def _fit(prepared: Prepared, model, x, y, val_x, val_y, progress):
    """Trains the head's Dense layer in NumPy (`_recipe.py`): imagehub's
    recipe searches the learning rate and L2 on the validation images
    (without the refit on them: the thresholds are chosen there);
    ``--recipe make_image_classifier`` trains the flags' setting as is.
    Returns ``(history, recipe line or None)``."""
    from imagehub.retrain._model import LOGITS_NAME
    from imagehub.retrain._recipe import run_recipe
    from imagehub.retrain._recipe import train_head

    config = prepared.config
    k = len(prepared.class_names)
    if config.searches:
        result = run_recipe(
            (x, y),
            (val_x, val_y),
            num_classes=k,
            config=config,
            seed=prepared.seed,
            refit=False,
            progress=progress,
        )
        head, history, recipe = result.final, result.history, result.describe()
    else:
        head, _, history = train_head(
            x,
            y,
            num_classes=k,
            config=config,
            learning_rate=config.learning_rate,
            l2=config.l2_regularizer,
            epochs=config.train_epochs,
            seed=prepared.seed,
            val=(val_x, val_y),
            patience=config.early_stopping_patience,
        )
        recipe = None
    model.head.get_layer(LOGITS_NAME).set_weights([head.kernel, head.bias])
    return history, recipe


def _probabilities(head, x: np.ndarray) -> np.ndarray:
    logits = np.asarray(head.predict(x, verbose=0), np.float64)
    return 1.0 / (1.0 + np.exp(-logits))


def train_multi_label(
    config: RetrainConfig, progress: ProgressFn | None
) -> MultiLabelRun:
    """The whole multi-label run; see the module docstring.

    Raises:
        FlagValueError: A bad --labels_csv or module, or an unsupported
            option.
        RetrainError: Too few images, or the loss diverged.
    """
    from imagehub.retrain._model import build

    prepared = prepare_multi_label(config)
    model = build(prepared)
    x, y, skipped = _features_and_targets(
        prepared, model, prepared.train, progress
    )
    val_x, val_y, val_skipped = _features_and_targets(
        prepared, model, prepared.val, progress
    )
    history, recipe = _fit(prepared, model, x, y, val_x, val_y, progress)
    val_probs = _probabilities(model.head, val_x)
    thresholds = choose_thresholds(val_probs, val_y)
    f1 = f1_scores(val_probs, val_y, thresholds)
    m_ap = mean_average_precision(val_probs, val_y)

    def subset_accuracy(probs, targets) -> float:
        exact = ((probs >= thresholds) == (targets > 0.5)).all(axis=1)
        return float(exact.mean())

    accuracy = subset_accuracy(val_probs, val_y)
    train_accuracy = subset_accuracy(_probabilities(model.head, x), y)
    names = prepared.class_names
    metrics = {
        "multi_label": True,
        "mean_average_precision": m_ap,
        "per_class_f1": dict(zip(names, map(float, f1), strict=True)),
        "thresholds": dict(zip(names, map(float, thresholds), strict=True)),
        "subset_accuracy": accuracy,
        "train_subset_accuracy": train_accuracy,
        "val_count": len(val_y),
        "train_count": len(y),
        "epochs_run": len(history["loss"]),
        "recipe": recipe,
        "seed": prepared.seed,
    }
    outputs = _export(prepared, model, thresholds, metrics, progress)
    return MultiLabelRun(
        prepared=prepared,
        model=model,
        thresholds=tuple(float(t) for t in thresholds),
        mean_average_precision=m_ap,
        f1=tuple(float(v) for v in f1),
        subset_accuracy=accuracy,
        train_subset_accuracy=train_accuracy,
        history=history,
        metrics=metrics,
        outputs=outputs,
        skipped=tuple(skipped + val_skipped),
        val_count=len(val_y),
        epochs_run=len(history["loss"]),
        recipe=recipe,
    )


def _export(
    prepared: Prepared,
    model,
    thresholds: np.ndarray,
    metrics: dict[str, Any],
    progress: ProgressFn | None,
) -> dict[str, str]:
    """Stages the SavedModel, labels file and report, then moves them all
    into place (nothing half-written on failure)."""
    import json

    from imagehub import outputs
    from imagehub.export import export_classifier
    from imagehub.retrain._export import commit_staged
    from imagehub.spec import write_labels

    config = prepared.config
    staged: list[tuple[str, str]] = []
    total = sum(
        1
        for p in (
            config.saved_model_dir,
            config.labels_output_file,
            prepared.report_dir,
        )
        if p
    )
    try:
        if config.saved_model_dir:
            tmp = outputs.temp_sibling(config.saved_model_dir, directory=True)
            os.rmdir(tmp)
            staged.append((tmp, config.saved_model_dir))
            export_classifier(
                model.classifier,
                tmp,
                labels=list(prepared.class_names),
                activation="sigmoid",
                image_size=model.image_size,
                source=f"imagehub retrain --multi_label on "
                f"{config.tfhub_module}",
                extra={CARD_THRESHOLDS: [float(t) for t in thresholds]},
            )
            report(progress, STAGE_EXPORT, len(staged), total)
        if config.labels_output_file:
            tmp = outputs.temp_sibling(config.labels_output_file)
            write_labels(tmp, prepared.class_names)
            staged.append((tmp, config.labels_output_file))
            report(progress, STAGE_EXPORT, len(staged), total)
        if prepared.report_dir:
            tmp = outputs.temp_sibling(prepared.report_dir, directory=True)
            os.makedirs(tmp, exist_ok=True)
            staged.append((tmp, prepared.report_dir))
            for name, document in (
                ("metrics.json", metrics),
                ("hparams.json", config.to_dict()),
            ):
                with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                    json.dump(document, f, indent=2)
            report(progress, STAGE_EXPORT, len(staged), total)
        written = commit_staged(staged, config)
        staged = []
    finally:
        for tmp, _ in staged:
            outputs.discard(tmp)
    return written
