"""Stage 4 of a run, `train`: the training loop, with checkpoints (and
resuming from them), early stopping and TensorBoard logs.

Trained on cached features, the head alone runs; otherwise the module and
the head run together. Both see the same batches in the same order (a
seeded permutation per epoch) and the head's dropout draws from the same
seeded generator, so the two ways reach the same weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from imagehub.retrain._checkpoint import Checkpoint
from imagehub.retrain._checkpoint import Checkpointer
from imagehub.retrain._checkpoint import CheckpointMismatchError
from imagehub.retrain._config import STAGE_EPOCH_END
from imagehub.retrain._config import STAGE_TRAIN
from imagehub.retrain._config import ProgressFn
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._config import report
from imagehub.retrain._errors import RetrainError
from imagehub.retrain._errors import TrainingDivergedError
from imagehub.retrain._features import Data
from imagehub.retrain._features import TrainData
from imagehub.retrain._model import Model
from imagehub.retrain._prepare import Prepared
from imagehub.retrain._recipe import RecipeResult
from imagehub.retrain._recipe import run_recipe

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What training did.

    Attributes:
        history: Per-epoch ``loss``, ``accuracy``, ``val_loss``,
            ``val_accuracy`` (all epochs, the resumed run's included).
        epochs_run: Number of epochs completed.
        best_epoch: The epoch whose weights were kept by early stopping
            (1-based), or None without early stopping.
        stopped_early: Whether early stopping ended training.
        resumed_from: The epoch training resumed after (0: from scratch).
        recipe: What imagehub's recipe chose and trained, or None for the
            old tool's training.
        warm_start: The head imagehub's recipe trained on the frozen
            module's features before fine-tuning began, or None.
    """

    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int | None
    stopped_early: bool
    resumed_from: int
    recipe: RecipeResult | None = None
    warm_start: RecipeResult | None = None


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


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The training order of epoch `epoch` (0-based): a seeded shuffle."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def _step_callback(progress: ProgressFn | None, epoch: int, steps: int) -> Any:
    """A Keras callback that reports each training step and notices a
    non-finite loss: its ``bad_step`` is then the 1-based step, else None."""
    import keras

    class StepCallback(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.bad_step: int | None = None

        def on_train_batch_end(self, batch, logs=None):
            logs = logs or {}
            loss = float(logs.get("loss", 0.0))
            if not math.isfinite(loss) and self.bad_step is None:
                self.bad_step = batch + 1
                self.model.stop_training = True
            report(
                progress,
                STAGE_TRAIN,
                batch + 1,
                steps,
                epoch=epoch,
                logs={k: float(v) for k, v in logs.items()},
            )

    return StepCallback()


def _values(variables) -> list[np.ndarray]:
    return [np.array(v) for v in variables]


def _assign(variables, values, what: str) -> None:
    variables = list(variables)
    if len(variables) != len(values):
        raise ValueError(
            f"the checkpoint has {len(values)} {what} values but the model "
            f"has {len(variables)}; it belongs to a different model"
        )
    for v, value in zip(variables, values, strict=True):
        v.assign(value)


def restore(model, saved_variables, checkpoint: Checkpoint) -> None:
    """Loads a checkpoint into the model and its (built) optimizer."""
    _assign(saved_variables, checkpoint.model_values, "model")
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    _assign(optimizer.variables, checkpoint.optimizer_values, "optimizer")


def _fit_one_epoch(model, data, epoch, steps, step_cb, callbacks, seed):
    return model.fit(
        data.epoch_dataset(epoch_order(seed, epoch, data.num_train)),
        validation_data=data.val_dataset,
        initial_epoch=epoch,
        epochs=epoch + 1,
        # A known step count: with an unknown one, Keras pulls once more at
        # the end, and that failed step still advances the dropout RNG (the
        # cached path's dataset has a known length, the images' has not).
        steps_per_epoch=steps,
        shuffle=False,  # the order is epoch_order's
        verbose=0,
        callbacks=[step_cb, *(callbacks or [])],
    )


def fit(
    model,
    data: TrainData,
    config: RetrainConfig,
    seed: int,
    *,
    saved_variables: list[Any],
    checkpointer: Checkpointer | None = None,
    resume_from: Checkpoint | None = None,
    callbacks: list[Any] | None = None,
    progress: ProgressFn | None = None,
) -> FitResult:
    """Trains a compiled model epoch by epoch.

    After each epoch the checkpoint is written, then an ``epoch_end``
    event is sent, so a run stopped at that event resumes after it.

    Args:
        model: The compiled model (the head, or module + head).
        data: Training and validation data.
        config: Epochs, batch size, early stopping.
        seed: Seed of the per-epoch orders.
        saved_variables: The variables a checkpoint stores (the head's
            when the module is frozen; all of the model's when fine-tuned).
        checkpointer: Where checkpoints go (None: no checkpoints).
        resume_from: A checkpoint to continue from.
        callbacks: Extra Keras callbacks (e.g. TensorBoard).
        progress: Receives ``train`` and ``epoch_end`` events.

    Returns:
        What training did; the model holds the kept epoch's weights.

    Raises:
        TrainingDivergedError: The loss became NaN or infinite.
    """
    history: dict[str, list[float]] = {}
    start, best_loss, best_epoch, wait = 0, math.inf, None, 0
    best_values: list[np.ndarray] | None = None
    if resume_from is not None:
        restore(model, saved_variables, resume_from)
        state = resume_from.state
        start = resume_from.epoch
        history = {k: list(v) for k, v in state.get("history", {}).items()}
        best_loss = float(state.get("best_loss", math.inf))
        best_epoch = state.get("best_epoch")
        wait = int(state.get("wait", 0))
        best_values = resume_from.best_values
        logger.info("resuming after epoch %d", start)
    steps = math.ceil(data.num_train / config.batch_size)
    patience = config.early_stopping_patience
    stopped_early = False
    if patience is not None and wait >= patience:
        stopped_early = True  # the interrupted run had already stopped
    epoch = start
    while epoch < config.train_epochs and not stopped_early:
        step_cb = _step_callback(progress, epoch + 1, steps)
        with warnings.catch_warnings():
            # Keras warns when a validation pass of unknown length ends.
            warnings.filterwarnings("ignore", "Your input ran out of data")
            result = _fit_one_epoch(
                model, data, epoch, steps, step_cb, callbacks, seed
            )
        logs = {k: float(v[-1]) for k, v in result.history.items()}
        if step_cb.bad_step is not None or not all(
            math.isfinite(logs.get(k, 0.0)) for k in ("loss", "val_loss")
        ):
            step = step_cb.bad_step or steps
            raise TrainingDivergedError(
                f"The training loss became NaN or infinite at epoch "
                f"{epoch + 1}, step {step}; training stopped and nothing "
                "was exported. Lower --learning_rate (it is "
                f"{config.learning_rate:g}), or check the images and "
                "labels."
            )
        for k, v in logs.items():
            history.setdefault(k, []).append(v)
        epoch += 1
        if patience is not None:
            if logs["val_loss"] < best_loss:
                best_loss, best_epoch, wait = logs["val_loss"], epoch, 0
                best_values = _values(saved_variables)
            else:
                wait += 1
                stopped_early = wait >= patience
        if checkpointer is not None:
            checkpointer.save(
                epoch,
                _values(saved_variables),
                _values(model.optimizer.variables),
                {
                    "history": history,
                    "best_loss": best_loss,
                    "best_epoch": best_epoch,
                    "wait": wait,
                    "seed": seed,
                },
                best_values=best_values,
            )
        report(
            progress,
            STAGE_EPOCH_END,
            epoch,
            config.train_epochs,
            epoch=epoch,
            logs=logs,
        )
    if stopped_early:
        logger.info(
            "early stopping after epoch %d; keeping epoch %s's weights",
            epoch,
            best_epoch,
        )
    if best_values is not None and best_epoch != epoch:
        _assign(saved_variables, best_values, "model")
    return FitResult(
        history=history,
        epochs_run=epoch,
        best_epoch=best_epoch,
        stopped_early=stopped_early,
        resumed_from=start,
    )


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
        callbacks.append(_summary_callback(config))
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
    defaults = RetrainConfig()
    result = _fit_head_by_recipe(
        prepared,
        model,
        data,
        # --train_epochs and --learning_rate are fine-tuning's; the head's
        # are searched.
        config.replace(
            train_epochs=defaults.train_epochs,
            learning_rate=defaults.learning_rate,
        ),
        refit=False,
        progress=progress,
    )
    rate = config.learning_rate
    if rate == defaults.learning_rate:
        rate = result.chosen.learning_rate / 10
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
    _write_summaries(
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


def write_summaries(
    directory: str, epoch: int, logs: dict[str, float], learning_rate: float
) -> None:
    """Appends one epoch's scalars to TensorBoard event files, laid out as
    Keras's TensorBoard callback lays them out (``train/`` and
    ``validation/``; ``epoch_loss``, ``epoch_accuracy``,
    ``epoch_learning_rate``). TensorFlow's own summary writer does it:
    TensorBoard need not be installed."""
    import tensorflow as tf

    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    metadata.data_class = 1  # DATA_CLASS_SCALAR
    parts = {
        "train": {
            "epoch_loss": logs.get("loss"),
            "epoch_accuracy": logs.get("accuracy"),
            "epoch_learning_rate": learning_rate,
        },
        "validation": {
            "epoch_loss": logs.get("val_loss"),
            "epoch_accuracy": logs.get("val_accuracy"),
        },
    }
    for part, scalars in parts.items():
        writer = _writer(os.path.join(directory, part))
        with writer.as_default():
            for tag, value in scalars.items():
                if value is not None:
                    tf.summary.write(
                        tag,
                        tf.constant(float(value), tf.float32),
                        step=epoch,
                        metadata=metadata,
                    )
        writer.flush()


_WRITERS: dict[str, Any] = {}


def _writer(directory: str):
    import tensorflow as tf

    if directory not in _WRITERS:
        _WRITERS[directory] = tf.summary.create_file_writer(directory)
    return _WRITERS[directory]


def _write_summaries(
    directory: str | None, history: dict[str, list[float]], lr: float
) -> None:
    """Every epoch of `history`, for a run that trained outside Keras."""
    if not directory:
        return
    for i in range(len(history.get("loss", ()))):
        logs = {k: v[i] for k, v in history.items() if i < len(v)}
        write_summaries(directory, i + 1, logs, lr)


def _summary_callback(config: RetrainConfig):
    """A Keras callback writing each epoch's scalars (`write_summaries`)."""
    import keras

    class Summaries(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            write_summaries(
                config.summaries_dir or "",
                epoch + 1,
                {k: float(v) for k, v in (logs or {}).items()},
                float(np.asarray(self.model.optimizer.learning_rate)),
            )

    return Summaries()
