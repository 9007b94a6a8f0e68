"""`make_image_classifier`: read the images, train, check, export.

The run's phases live in their own modules: `_run` (images, module, seed,
model), `_run_data`, `_run_train` and `_run_outputs`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

import numpy as np

from imagehub.retrain import _report
from imagehub.retrain import _run_data
from imagehub.retrain import _run_outputs
from imagehub.retrain import _run_train
from imagehub.retrain import _train
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._errors import AccuracyError
from imagehub.retrain._progress import ProgressFn
from imagehub.retrain._run import Run

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
    with _train.deterministic_ops(deterministic):
        return _make_image_classifier(config, progress)


def _make_image_classifier(
    config: RetrainConfig, progress: ProgressFn | None
) -> RetrainResult:
    start = time.perf_counter()
    run = Run(config, progress)
    run.setup()
    with run.strategy_scope():
        run.build()
    _run_data.prepare_data(run)
    outcome = _run_train.train(run)
    logits, labels, paths = _run_outputs.evaluate(run)
    val_metrics = _report.classification_metrics(
        labels, np.argmax(logits, axis=-1), run.class_names
    )
    accuracy = val_metrics["accuracy"]
    logger.info("final validation accuracy: %.4f", accuracy)
    if (
        config.assert_accuracy_at_least is not None
        and accuracy < config.assert_accuracy_at_least
    ):
        raise AccuracyError(
            f"ACCURACY FAILED: final validation accuracy {accuracy:.4f} is "
            f"below --assert_accuracy_at_least "
            f"{config.assert_accuracy_at_least}; nothing was exported"
        )
    metrics: dict[str, Any] = {
        "validation": val_metrics,
        "val_accuracy": accuracy,
        "num_train": len(run.train_index),
        "num_skipped": len(run.index.skipped),
        "epochs_run": outcome["epochs_run"],
        "best_epoch": outcome["best_epoch"],
        "stopped_early": outcome["stopped_early"],
        "resumed_from_epoch": outcome["resumed_from"],
        "cache_features": run.cached,
        "history": outcome["history"],
    }
    outputs: dict[str, str] = {}
    _run_outputs.export(
        run, metrics, outcome["history"], (logits, labels, paths), outputs
    )
    if run.checkpoint_dir:
        outputs["checkpoints"] = os.path.abspath(run.checkpoint_dir)
    metrics["seconds"] = time.perf_counter() - start
    return RetrainResult(
        model=run.classifier,
        labels=tuple(run.class_names),
        image_size=run.image_size,
        val_accuracy=accuracy,
        history=outcome["history"],
        metrics=metrics,
        outputs=outputs,
        config=config.replace(seed=run.seed),
        skipped=list(run.index.skipped),
        seconds=metrics["seconds"],
    )
