"""`make_image_classifier`: the whole run as a sequence of stages, each a
function that takes and returns frozen values::

    prepare -> build -> load_data -> train -> evaluate -> export

`_prepare` (images, module card, seed, split), `_model` (the Keras
models), `_features` (cached features or image datasets), `_train` (the
training loop and checkpoints), `_evaluate` (validation scores) and
`_export` (SavedModel, TFLite, labels, report).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

from imagehub.retrain._config import ProgressFn
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._errors import AccuracyError
from imagehub.retrain._evaluate import evaluate
from imagehub.retrain._export import TFLiteCheck
from imagehub.retrain._export import export
from imagehub.retrain._features import load_data
from imagehub.retrain._model import build
from imagehub.retrain._multilabel_run import train_multi_label
from imagehub.retrain._prepare import prepare
from imagehub.retrain._train import deterministic_ops
from imagehub.retrain._train import train

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class RetrainResult:
    """What a run produced.

    Attributes:
        model: The trained Keras classifier ([0, 1] images -> logits).
        labels: Class names in the order of the logits.
        image_size: (height, width) of the model's input.
        val_accuracy: Final validation accuracy.
        history: Per-epoch ``loss``, ``accuracy``, ``val_loss``,
            ``val_accuracy``.
        metrics: Everything in metrics.json.
        outputs: Output kind (``saved_model``, ``tflite``, ``labels``,
            ``report``, ``checkpoints``) -> path written.
        config: The configuration, with the seed that was used.
        skipped: ``(path, reason)`` of every image left out.
        seconds: Wall time of the run.
        train_accuracy: The final model's accuracy on the training images.
        chance_level: The validation accuracy of guessing.
        context: Chance level and training accuracy, in one line.
        hint: One line on what to try when the validation accuracy is near
            chance or far below the training accuracy, else None.
        tflite: The TFLite model's check, or None without one.
        val_count: Number of validation images.
        epochs_run: Number of epochs trained.
        recipe: What imagehub's recipe chose, in one line, or None for
            the old tool's training.
        engine: What ran the module's feature pass (`--engine`), or
            None when the module runs only inside training.
        engine_reason: Why that engine, in one line.
    """

    model: Any
    labels: tuple[str, ...]
    image_size: tuple[int, int]
    val_accuracy: float
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    outputs: dict[str, str]
    config: RetrainConfig
    skipped: list[tuple[str, str]]
    seconds: float
    train_accuracy: float = float("nan")
    chance_level: float = float("nan")
    context: str = ""
    hint: str | None = None
    tflite: TFLiteCheck | None = None
    val_count: int = 0
    epochs_run: int = 0
    recipe: str | None = None
    engine: str | None = None
    engine_reason: str = ""


def make_image_classifier(
    config: RetrainConfig | None = None,
    progress: ProgressFn | None = None,
    **overrides: Any,
) -> RetrainResult:
    """Retrains a classifier on a folder of images, on top of an image
    feature-vector module, and exports it.

    The successor of tensorflow_hub's `make_image_classifier`, on Keras 3:
    same flags and defaults (see `RetrainConfig`), plus feature caching,
    checkpoints and resuming, TFLite quantization and a report.

    Args:
        config: The run's settings; None uses the defaults.
        progress: Receives `ProgressEvent`s (image validation, feature
            caching, each training step, each epoch's end, exports).
        **overrides: Fields of `RetrainConfig` to change, e.g.
            ``image_dir="photos", train_epochs=10``.

    Returns:
        A `RetrainResult` with the model, metrics and output paths.

    Raises:
        RetrainError: The run could not finish (bad images folder,
            module, checkpoint; the loss diverged; the accuracy is below
            `assert_accuracy_at_least`; the float TFLite model disagrees).
            Nothing is exported then.
        ValueError: A setting is out of range.

    Example:
        >>> result = make_image_classifier(
        ...     image_dir="photos", tfhub_module="mobilenet_fv",
        ...     saved_model_dir="out/model", tflite_output_file="out/m.tflite")
        >>> result.val_accuracy
    """
    config = config or RetrainConfig()
    if overrides:
        config = config.replace(**overrides)
    # A seeded run is reproducible: deterministic TensorFlow ops, except
    # when fine-tuning, where the module's own random ops (dropout inside
    # it) may be unseeded, which deterministic mode refuses to run.
    deterministic = config.seed is not None and not config.do_fine_tuning
    if config.seed is not None and config.do_fine_tuning:
        logger.info(
            "--seed with --do_fine_tuning: seeded, but TensorFlow's op "
            "determinism stays off (the module may use unseeded random ops)"
        )
    with deterministic_ops(deterministic):
        if config.multi_label:
            return _multi_label(config, progress)
        return _make_image_classifier(config, progress)


def _make_image_classifier(
    config: RetrainConfig, progress: ProgressFn | None
) -> RetrainResult:
    start = time.perf_counter()
    prepared = prepare(config, progress)
    model = build(prepared)
    data = load_data(prepared, model, progress)
    fit = train(prepared, model, data, progress)
    evaluation = evaluate(prepared, model, data, fit)
    logger.info("final validation accuracy: %.4f", evaluation.accuracy)
    _check_accuracy(evaluation.accuracy, config.assert_accuracy_at_least)
    exported = export(prepared, model, data, fit, evaluation, progress)
    outputs = dict(exported.outputs)
    if prepared.checkpoint_dir:
        outputs["checkpoints"] = os.path.abspath(prepared.checkpoint_dir)
    seconds = time.perf_counter() - start
    return RetrainResult(
        model=model.classifier,
        labels=prepared.class_names,
        image_size=model.image_size,
        val_accuracy=evaluation.accuracy,
        history=fit.history,
        metrics={**exported.metrics, "seconds": seconds},
        outputs=outputs,
        config=config.replace(seed=prepared.seed),
        skipped=list(data.skipped),
        seconds=seconds,
        train_accuracy=evaluation.train_accuracy,
        chance_level=evaluation.chance_level,
        context=evaluation.context(),
        hint=evaluation.hint,
        tflite=exported.tflite,
        val_count=evaluation.metrics.count,
        epochs_run=fit.epochs_run,
        recipe=None if fit.recipe is None else fit.recipe.describe(),
        engine=data.engine.engine if data.engine else None,
        engine_reason=data.engine.reason if data.engine else "",
    )


def _multi_label(
    config: RetrainConfig, progress: ProgressFn | None
) -> RetrainResult:
    """A `--multi_label` run (`_multilabel_run.py`); `val_accuracy` is the
    fraction of validation images whose whole set of classes is right."""
    start = time.perf_counter()
    run = train_multi_label(config, progress)
    _check_accuracy(run.subset_accuracy, config.assert_accuracy_at_least)
    seconds = time.perf_counter() - start
    f1 = ", ".join(
        f"{name} {value:.2f}"
        for name, value in zip(run.prepared.class_names, run.f1, strict=True)
    )
    return RetrainResult(
        model=run.model.classifier,
        labels=run.prepared.class_names,
        image_size=run.model.image_size,
        val_accuracy=run.subset_accuracy,
        history=run.history,
        metrics={**run.metrics, "seconds": seconds},
        outputs=run.outputs,
        config=config.replace(seed=run.prepared.seed),
        skipped=list(run.skipped),
        seconds=seconds,
        train_accuracy=run.train_subset_accuracy,
        context=(
            f"multi-label (exact set of classes): mAP "
            f"{run.mean_average_precision:.4f}; F1 per class: {f1}"
        ),
        tflite=run.tflite,
        val_count=run.val_count,
        epochs_run=run.epochs_run,
        recipe=(run.recipe or "recipe make_image_classifier")
        + "; sigmoid head, binary cross-entropy, per-class thresholds "
        "chosen on the validation images (in the model card)",
        engine=run.engine.engine if run.engine else None,
        engine_reason=run.engine.reason if run.engine else "",
    )


def _check_accuracy(accuracy: float, at_least: float | None) -> None:
    if at_least is not None and accuracy < at_least:
        raise AccuracyError(
            f"ACCURACY FAILED: final validation accuracy {accuracy:.4f} is "
            f"below --assert_accuracy_at_least {at_least}; nothing was "
            "exported"
        )
