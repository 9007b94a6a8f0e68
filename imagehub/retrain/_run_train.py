"""The training phase of a run: checkpoints (and resuming from them),
TensorBoard logs, then `_train.fit`."""

from __future__ import annotations

import logging
from typing import Any

from imagehub.retrain import _train
from imagehub.retrain._checkpoint import Checkpointer
from imagehub.retrain._checkpoint import CheckpointMismatchError
from imagehub.retrain._errors import RetrainError
from imagehub.retrain._run import Run

logger = logging.getLogger(__name__)


def fingerprint(run: Run) -> dict[str, Any]:
    """What a checkpoint must share with the run it resumes."""
    c = run.config
    return {
        "tfhub_module": c.tfhub_module,
        "image_size": list(run.image_size),
        "resize": c.resize,
        "class_names": run.class_names,
        "num_train": len(run.train_index),
        "num_validation": len(run.val_index),
        "seed": run.seed,
        "cache_features": run.cached,
        "do_fine_tuning": c.do_fine_tuning,
        "batch_size": c.batch_size,
        "optimizer": c.optimizer,
    }


def train(run: Run) -> dict[str, Any]:
    """Trains ``run.model`` on ``run.train_data``; returns `_train.fit`'s
    outcome.

    Raises:
        RetrainError: --resume without a checkpoint folder, or with a
            checkpoint of a different run.
    """
    import keras

    config = run.config
    checkpointer = resume_from = None
    if run.checkpoint_dir:
        checkpointer = Checkpointer(run.checkpoint_dir, fingerprint(run))
        if config.resume:
            try:
                resume_from = checkpointer.load()
            except CheckpointMismatchError as e:
                raise RetrainError(str(e)) from e
            if resume_from is None:
                logger.warning(
                    "--resume: no checkpoint in %s; starting at epoch 1",
                    run.checkpoint_dir,
                )
    elif config.resume:
        raise RetrainError(
            "--resume needs --checkpoint_dir (or an output path such as "
            "--saved_model_dir, beside which checkpoints are kept)"
        )
    callbacks = []
    if config.summaries_dir:
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir=config.summaries_dir)
        )
    return _train.fit(
        run.model,
        run.train_data,
        config,
        run.seed,
        saved_variables=run.saved_variables,
        checkpointer=checkpointer,
        resume_from=resume_from,
        callbacks=callbacks,
        progress=run.progress,
    )
