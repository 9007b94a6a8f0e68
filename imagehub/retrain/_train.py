"""The classifier model and its training loop.

The model is make_image_classifier's: the feature-vector module (an
`imagehub.KerasLayer`) -> Dropout -> Dense logits with an L1/L2 kernel
regularizer, trained on cross-entropy from logits with label smoothing, by
SGD with momentum. Dropout and Dense form one `head` model. Trained on
cached features, the head alone runs; otherwise the module and the head run
together. Both see the same batches in the same order (a seeded permutation
per epoch) and the head's dropout draws from the same seeded generator, so
the two ways reach the same weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import warnings
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import numpy as np

from imagehub.retrain._checkpoint import Checkpoint
from imagehub.retrain._checkpoint import Checkpointer
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._errors import TrainingDivergedError
from imagehub.retrain._progress import STAGE_EPOCH_END
from imagehub.retrain._progress import STAGE_TRAIN
from imagehub.retrain._progress import ProgressFn
from imagehub.retrain._progress import report

logger = logging.getLogger(__name__)

HEAD_NAME = "head"
LOGITS_NAME = "logits"


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


def build_head(
    num_features: int, num_classes: int, config: RetrainConfig, seed: int
):  # -> keras.Sequential
    """Dropout -> Dense logits, with seeded dropout and initializer."""
    import keras

    policy = "mixed_float16" if config.use_mixed_precision else None
    layers = [
        keras.Input((num_features,), name="features"),
        keras.layers.Dropout(
            config.dropout_rate, seed=seed, name="dropout", dtype=policy
        ),
        keras.layers.Dense(
            num_classes,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            kernel_regularizer=keras.regularizers.L1L2(
                l1=config.l1_regularizer, l2=config.l2_regularizer
            ),
            name=LOGITS_NAME,
            dtype=policy,
        ),
    ]
    if policy:
        # Logits leave the model as float32 whatever the compute dtype.
        layers.append(
            keras.layers.Activation("linear", dtype="float32", name="cast")
        )
    return keras.Sequential(layers, name=HEAD_NAME)


def build_classifier(backbone, head, image_size: tuple[int, int]):
    """The full model: [0, 1] images -> module -> head -> logits."""
    import keras

    inputs = keras.Input((*image_size, 3), name="images")
    outputs = head(backbone(inputs))
    return keras.Model(inputs, outputs, name="classifier")


def make_optimizer(config: RetrainConfig):
    import keras

    if config.optimizer == "adam":
        return keras.optimizers.Adam(config.learning_rate)
    return keras.optimizers.SGD(config.learning_rate, momentum=config.momentum)


def compile_model(model, config: RetrainConfig) -> None:
    import keras

    model.compile(
        optimizer=make_optimizer(config),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing
        ),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        # XLA would compile the head alone but not the module, and the
        # cached and uncached ways must compute the same numbers.
        jit_compile=False,
    )


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The training order of epoch `epoch` (0-based): a seeded shuffle."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency weights, 1.0 on average over the images."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.zeros(num_classes, np.float64)
    present = counts > 0
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights.astype(np.float32)


def augmentation_layers(
    config: RetrainConfig, image_size: tuple[int, int], seed: int
) -> list[Any]:
    """Keras preprocessing layers for make_image_classifier's augmentation
    flags, converted to the units Keras expects.

    `rotation_range` is in degrees (as for the old ImageDataGenerator);
    `keras.layers.RandomRotation` takes a fraction of a full turn, so 40
    degrees is 40 / 360. Shifts >= 1 are pixels, below 1 fractions; shear
    is an angle in degrees, applied as its tangent.
    """
    import keras

    h, w = image_size

    def fraction(shift: float, size: int) -> float:
        return shift / size if shift >= 1 else shift

    layers = []
    if config.rotation_range:
        turn = config.rotation_range / 360.0
        layers.append(
            keras.layers.RandomRotation(
                (-turn, turn), fill_mode="nearest", seed=seed
            )
        )
    if config.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    dy = fraction(config.height_shift_range, h)
    dx = fraction(config.width_shift_range, w)
    if dx or dy:
        layers.append(
            keras.layers.RandomTranslation(
                (-dy, dy), (-dx, dx), fill_mode="nearest", seed=seed
            )
        )
    if config.shear_range:
        shear = math.tan(math.radians(config.shear_range))
        layers.append(
            keras.layers.RandomShear(
                x_factor=shear, fill_mode="nearest", seed=seed
            )
        )
    if config.zoom_range:
        z = config.zoom_range
        layers.append(
            keras.layers.RandomZoom((-z, z), (-z, z), fill_mode="nearest")
        )
    return layers


@dataclasses.dataclass
class TrainData:
    """What `fit` trains on.

    Attributes:
        num_train: Number of training examples.
        epoch_dataset: Maps an order (a permutation of the training
            examples) to a dataset of ``(x, one_hot[, sample_weight])``
            batches in that order.
        val_dataset: Validation batches ``(x, one_hot)``.
    """

    num_train: int
    epoch_dataset: Callable[[np.ndarray], Any]
    val_dataset: Any


class _StepCallback:
    """Reports each training step and notices a non-finite loss."""

    def __new__(cls, *args, **kwargs):
        import keras

        class Impl(keras.callbacks.Callback):
            def __init__(self, progress, epoch, steps):
                super().__init__()
                self.progress = progress
                self.epoch = epoch
                self.steps = steps
                self.bad_step: int | None = None

            def on_train_batch_end(self, batch, logs=None):
                logs = logs or {}
                loss = float(logs.get("loss", 0.0))
                if not math.isfinite(loss) and self.bad_step is None:
                    self.bad_step = batch + 1
                    self.model.stop_training = True
                report(
                    self.progress,
                    STAGE_TRAIN,
                    batch + 1,
                    self.steps,
                    epoch=self.epoch,
                    logs={k: float(v) for k, v in logs.items()},
                )

        return Impl(*args, **kwargs)


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
) -> dict[str, Any]:
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
        ``{"history": {metric: [per epoch]}, "epochs_run": int,
        "best_epoch": int | None, "stopped_early": bool,
        "resumed_from": int}``.

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
        step_cb = _StepCallback(progress, epoch + 1, steps)
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
    return {
        "history": history,
        "epochs_run": epoch,
        "best_epoch": best_epoch,
        "stopped_early": stopped_early,
        "resumed_from": start,
    }
