"""Stage 4 of a run, `train`: imagehub's recipe on cached features
(`_recipe.py`), or the epoch loop of `_fit.py` with checkpoints beside the
outputs, resuming from them and early stopping; fine-tuning starts from a
head trained by the recipe. TensorBoard logs come from `_summaries.py`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from imagehub.retrain._checkpoint import Checkpointer
from imagehub.retrain._checkpoint import CheckpointMismatchError
from imagehub.retrain._config import ProgressFn
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._errors import RetrainError
from imagehub.retrain._features import Data
from imagehub.retrain._fit import FitResult
from imagehub.retrain._fit import fit
from imagehub.retrain._model import Model
from imagehub.retrain._prepare import Prepared
from imagehub.retrain._recipe import RecipeResult
from imagehub.retrain._recipe import run_recipe
from imagehub.retrain._summaries import summary_callback
from imagehub.retrain._summaries import write_history

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def deterministic_ops(enabled: bool) -> Iterator[None]:
    """Turns TensorFlow's op determinism on for a block, then back to what
    it was: it is process-wide, and left on it would break later code that
    runs unseeded random ops (e.g. a module's own dropout)."""
    if not enabled:
        yield
        return
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_on:
            tf_config.disable_op_determinism()


def fingerprint(prepared: Prepared, model: Model, data: Data) -> dict[str, Any]:
    """What a checkpoint must share with the run it resumes."""
    c = prepared.config
    return {
        "tfhub_module": c.tfhub_module,
        "image_size": list(model.image_size),
        "resize": c.resize,
        "class_names": list(prepared.class_names),
        "num_train": len(data.train),
        "num_validation": len(data.val),
        "seed": prepared.seed,
        "cache_features": model.cached,
        "do_fine_tuning": c.do_fine_tuning,
        "batch_size": c.batch_size,
        "optimizer": c.optimizer,
    }


def train(
    prepared: Prepared,
    model: Model,
    data: Data,
    progress: ProgressFn | None,
) -> FitResult:
    """Trains ``model.trained`` on `data`, with checkpoints beside the
    outputs (resuming from them with --resume) and TensorBoard logs.

    Raises:
        RetrainError: --resume without a checkpoint folder, or with a
            checkpoint of a different run.
        TrainingDivergedError: The loss became NaN or infinite.
    """
    config = prepared.config
    if config.searches:
        return _train_by_recipe(prepared, model, data, progress)
    checkpointer = resume_from = None
    if prepared.checkpoint_dir:
        checkpointer = Checkpointer(
            prepared.checkpoint_dir, fingerprint(prepared, model, data)
        )
        if config.resume:
            try:
                resume_from = checkpointer.load()
            except CheckpointMismatchError as e:
                raise RetrainError(str(e)) from e
            if resume_from is None:
                logger.warning(
                    "--resume: no checkpoint in %s; starting at epoch 1",
                    prepared.checkpoint_dir,
                )
    elif config.resume:
        raise RetrainError(
            "--resume needs --checkpoint_dir (or an output path such as "
            "--saved_model_dir, beside which checkpoints are kept)"
        )
    callbacks = []
    if config.summaries_dir:
        callbacks.append(summary_callback(config))
    warm = None
    if config.warm_starts and resume_from is None:
        warm = _warm_start(prepared, model, data, progress)
    result = fit(
        model.trained,
        data.batches,
        config,
        prepared.seed,
        saved_variables=list(model.saved_variables),
        checkpointer=checkpointer,
        resume_from=resume_from,
        callbacks=callbacks,
        progress=progress,
    )
    return dataclasses.replace(result, warm_start=warm)


def _warm_start(
    prepared: Prepared,
    model: Model,
    data: Data,
    progress: ProgressFn | None,
) -> RecipeResult:
    """Fine-tuning's first step: the head trained by imagehub's recipe on
    the frozen module's features (not refit on the validation images),
    then the learning rate for the whole model lowered tenfold (unless
    --learning_rate was given)."""
    config = prepared.config
    result = _fit_head_by_recipe(
        prepared,
        model,
        data,
        # --train_epochs and --learning_rate are fine-tuning's; the head's
        # are searched.
        config.replace(train_epochs=None, learning_rate=None),
        refit=False,
        progress=progress,
    )
    rate = config.image_learning_rate(result.chosen.learning_rate)
    model.trained.optimizer.learning_rate = rate
    logger.info(
        "warm start: head trained on cached features (%s); fine-tuning "
        "the whole model at learning rate %g",
        result.describe(),
        rate,
    )
    return result


def _train_by_recipe(
    prepared: Prepared,
    model: Model,
    data: Data,
    progress: ProgressFn | None,
) -> FitResult:
    """imagehub's recipe on the cached features (see `_recipe`); the head
    gets the final weights. It trains in seconds, so it keeps no
    checkpoint: --resume reruns it on the cached features."""
    config = prepared.config
    if config.resume:
        logger.info(
            "--resume: the %s recipe keeps no checkpoint; it reruns on the "
            "cached features",
            config.recipe,
        )
    result = _fit_head_by_recipe(
        prepared,
        model,
        data,
        config,
        balanced=config.class_weights == "auto",
        progress=progress,
    )
    write_history(
        config.summaries_dir, result.history, result.chosen.learning_rate
    )
    return FitResult(
        history=result.history,
        epochs_run=result.chosen.best_epoch,
        best_epoch=result.chosen.best_epoch,
        stopped_early=False,
        resumed_from=0,
        recipe=result,
    )


def _fit_head_by_recipe(
    prepared: Prepared,
    model: Model,
    data: Data,
    config: RetrainConfig,
    *,
    refit: bool = True,
    balanced: bool = False,
    progress: ProgressFn | None,
) -> RecipeResult:
    """Runs imagehub's recipe on the cached features with `config` and
    gives the model's head the final weights.

    Args:
        refit: Refit the chosen head on the validation images too.
        balanced: Weight the examples by the inverse of their class's
            frequency (``--class_weights auto``).
    """
    from imagehub.retrain._features import class_weights
    from imagehub.retrain._model import LOGITS_NAME

    if data.train_features is None or data.val_features is None:
        raise ValueError("the recipe needs the module's cached features")
    train_labels = np.asarray(data.train.labels, np.int64)
    val_labels = np.asarray(data.val.labels, np.int64)
    weights = None
    if balanced:
        table = class_weights(train_labels, len(prepared.class_names))
        weights = (table[train_labels], table[val_labels])
    result = run_recipe(
        (data.train_features, train_labels),
        (data.val_features, val_labels),
        num_classes=len(prepared.class_names),
        config=config,
        seed=prepared.seed,
        refit=refit,
        sample_weights=weights,
        progress=progress,
    )
    model.head.get_layer(LOGITS_NAME).set_weights(
        [result.final.kernel, result.final.bias]
    )
    return result
