"""`classify`: the top classes of many images, with labels and scores."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from imagehub.embed._batches import Batch
from imagehub.embed._defaults import DEFAULTS
from imagehub.embed._embed import run_batches
from imagehub.embed._engine import open_with_engine
from imagehub.embed._inputs import list_inputs
from imagehub.embed._run import Inputs
from imagehub.embed._run import Progress
from imagehub.embed._run import check_resize
from imagehub.spec import ACTIVATIONS
from imagehub.spec import DEFAULT_ACTIVATION

logger = logging.getLogger(__name__)

# TF Hub's ImageNet classifiers have 1001 logits: index 0 is "background",
# which the usual 1000-line label files leave out.
BACKGROUND = "background"


def _labels_for(
    labels: tuple[str, ...] | None, given: bool, num_classes: int
) -> list[str] | None:
    """The card's labels, or the given ones fitted to `num_classes`."""
    if labels is None or not given:
        return list(labels) if labels else None
    names = list(labels)
    if len(names) == num_classes - 1:
        names = [BACKGROUND, *names]
    if len(names) != num_classes:
        raise ValueError(
            f"labels has {len(names)} names but the model has {num_classes} "
            f"classes; give one name per class in index order (or "
            f"{num_classes - 1} when index 0 is background)"
        )
    return names


def scores_from_logits(logits: np.ndarray, activation: str) -> np.ndarray:
    """Softmax or sigmoid (SPEC C3) of a (batch, classes) logits array."""
    logits = np.asarray(logits, np.float64)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    if activation != "softmax":
        raise ValueError(
            f"Unknown activation {activation!r}; expected one of {ACTIVATIONS}"
        )
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def card_thresholds(
    card: Any, activation: str, num_classes: int
) -> np.ndarray | None:
    """The per-class thresholds of a multi-label (sigmoid) model's card
    (``extra["thresholds"]``, one per class, as `retrain --multi_label`
    writes them), or None for other models.

    Raises:
        ValueError: The card's thresholds do not fit the model.
    """
    if card is None or activation != "sigmoid":
        return None
    given = (card.extra or {}).get("thresholds")
    if given is None:
        return None
    try:
        thresholds = np.asarray(given, np.float64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"the model card's extra['thresholds'] must be numbers, got "
            f"{given!r}; re-export the model or fix its card"
        ) from e
    if len(thresholds) != num_classes:
        raise ValueError(
            f"the model card has {len(thresholds)} thresholds but the model "
            f"has {num_classes} classes; re-export the model or fix its card"
        )
    return thresholds


def classify(
    model: Any,
    inputs: Inputs,
    *,
    top_k: int = DEFAULTS.top_k,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    batch_size: int = DEFAULTS.batch_size,
    image_size: Any = None,
    resize: str = DEFAULTS.resize,
    progress: Progress | None = None,
    engine: str = DEFAULTS.engine,
) -> list[dict[str, Any]]:
    """Classifies every image of `inputs`.

    Scores are the softmax or sigmoid of the logits, as the model card says
    (SPEC C3); a model without a card is taken to be a softmax classifier.

    Args:
        model: A handle for `imagehub.load`, or a loaded classifier.
        inputs: A folder, glob pattern, text file of paths, image path, or
            a sequence of these.
        top_k: Classes to report per image, best first.
        labels: A labels file (one name a line, in index order; for TF Hub's
            1001-class ImageNet models a 1000-line file gets "background"
            at index 0) or a list of names. Default: the model card's
            labels; with none, `label` is None and only indices are known.
        batch_size: Images per model call.
        image_size: (height, width) or "H,W"; default: the model card's.
        resize: How images are fitted to `image_size`.
        progress: Called with (files done, files to do) after each batch.
        engine: What runs the model: ``"auto"``, ``"tensorflow"``,
            ``"litert"`` or ``"openvino"`` (`imagehub.engines`).

    Returns:
        One dict per input file, in input order: ``{"path": ..., "top_k":
        [{"index": int, "label": str | None, "score": float}, ...]}``; a
        file that cannot be decoded has ``"top_k": []`` and an ``"error"``.
        For a multi-label model (sigmoid, with per-class thresholds in its
        card) each dict also has ``"predicted"``: every class whose score
        reaches its threshold, in the same form, best first.

    Raises:
        ValueError: A bad argument, or labels that do not match the model.
        FileNotFoundError: An input does not exist (checked before the
            model is loaded).
    """
    if top_k < 1:
        raise ValueError(f"top_k must be positive, got {top_k}")
    check_resize(resize)
    index = list_inputs(inputs)  # a missing input fails before the load
    opened = open_with_engine(
        model, image_size, engine, batch_size, len(index), labels=labels
    )
    facts = opened.facts
    if facts.card is not None and not facts.is_classifier:
        raise ValueError(
            f"Model {facts.handle or model!r} is a {facts.task} "
            "model, not a classifier; use embed for its features"
        )
    num_classes = opened.num_outputs
    names = _labels_for(facts.labels, labels is not None, num_classes)
    activation = facts.activation or DEFAULT_ACTIVATION
    thresholds = card_thresholds(facts.card, activation, num_classes)
    k = min(top_k, num_classes)
    results: dict[str, dict[str, Any]] = {
        p: {"path": p, "top_k": [], "error": reason}
        for p, reason in index.skipped
    }

    def on_batch(batch: Batch, logits: np.ndarray | None) -> None:
        for path, reason in batch.errors:
            results[path] = {"path": path, "top_k": [], "error": reason}
        if logits is None:
            return
        scores = scores_from_logits(logits, activation)
        best = np.argsort(-scores, axis=-1, kind="stable")[:, :k]
        for path, row, order in zip(batch.paths, scores, best, strict=True):
            results[path] = {"path": path, "top_k": _entries(row, order)}
            if thresholds is not None:
                full = np.argsort(-row, kind="stable")
                chosen = [i for i in full if row[i] >= thresholds[i]]
                results[path]["predicted"] = _entries(row, chosen)

    def _entries(row: np.ndarray, order: Any) -> list[dict[str, Any]]:
        return [
            {
                "index": int(i),
                "label": names[i] if names else None,
                "score": float(row[i]),
            }
            for i in order
        ]

    run_batches(opened, index, on_batch, batch_size, resize, progress)
    order = [p for p, _ in index.skipped] + index.paths
    return [results[p] for p in order]
