"""The epoch loop that trains a compiled Keras model (`fit`), for the old
tool's training and for fine-tuning: each epoch's seeded order, progress
per step, a stop on a non-finite loss, early stopping, and a checkpoint
after every epoch that a later run resumes from.

Trained on cached features, the head alone runs; otherwise the module and
the head run together. Both see the same batches in the same order (a
seeded permutation per epoch) and the head's dropout draws from the same
seeded generator, so the two ways reach the same weights.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from typing import Any

import numpy as np

from imagehub.retrain._checkpoint import Checkpoint
from imagehub.retrain._checkpoint import Checkpointer
from imagehub.retrain._config import STAGE_EPOCH_END
from imagehub.retrain._config import STAGE_TRAIN
from imagehub.retrain._config import ProgressFn
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._config import report
from imagehub.retrain._errors import TrainingDivergedError
from imagehub.retrain._features import TrainData
from imagehub.retrain._recipe import RecipeResult

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
    while epoch < config.resolved_train_epochs and not stopped_early:
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
            rate = float(np.asarray(model.optimizer.learning_rate))
            raise TrainingDivergedError(
                f"The training loss became NaN or infinite at epoch "
                f"{epoch + 1}, step {step}; training stopped and nothing "
                "was exported. Lower --learning_rate (it is "
                f"{rate:g}), or check the images and labels."
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
            config.resolved_train_epochs,
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
