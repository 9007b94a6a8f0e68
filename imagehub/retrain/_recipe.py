"""imagehub's default training recipe on cached features.

make_image_classifier trained its head for 5 epochs of SGD at one learning
rate, a setting that on small data stops far from convergence and depends
on the seed. With the features cached, training the head costs
milliseconds per epoch, so this recipe searches instead
(`bench/results/retrain_quality.md` measures it against the old one):

1. For each learning rate and L2 strength of a small grid, train the head
   on the training images with early stopping on the validation images
   (the best epoch by validation loss is kept).
2. Choose the setting with the lowest validation loss.
3. Train the head afresh with that setting on the training and
   validation images together, for the chosen number of epochs.

The validation numbers a run reports are those of the chosen setting's
model trained on the training images only: the final model has seen the
validation images. Flags given keep their meaning, whatever their value
(those the recipe chooses default to None, `RetrainConfig.given`):
``--learning_rate`` and ``--l2_regularizer`` fix that axis of the grid,
``--train_epochs`` fixes the epochs (no early stopping) and
``--early_stopping_patience`` sets the patience.

The head (Dropout -> Dense, cross-entropy with label smoothing, L1/L2 on
the kernel) is trained here in NumPy with the run's optimizer (SGD with
momentum by default, so --learning_rate keeps its meaning): the same model
as the Keras head, whose weights are set from the result, without Keras's
per-epoch overhead, and deterministic for a seed. The grid and its ranges
were chosen by measurement on the bundled flowers.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from imagehub.retrain._config import STAGE_SEARCH
from imagehub.retrain._config import ProgressFn
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._config import report
from imagehub.retrain._errors import TrainingDivergedError

logger = logging.getLogger(__name__)

LEARNING_RATES = (0.003, 0.01, 0.03)
L2_STRENGTHS = (1e-4, 1e-3, 1e-2)
MAX_EPOCHS = 300
PATIENCE = 30


@dataclasses.dataclass(frozen=True)
class Head:
    """The head's weights: logits = features @ kernel + bias."""

    kernel: np.ndarray
    bias: np.ndarray

    def logits(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, np.float32) @ self.kernel + self.bias


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One setting of the grid, trained on the training images.

    Attributes:
        learning_rate: The optimizer's learning rate.
        l2: L2 strength on the kernel.
        best_epoch: The epoch with the lowest validation loss (1-based).
        val_loss: Validation cross-entropy (no smoothing) at that epoch.
        val_accuracy: Validation accuracy at that epoch.
    """

    learning_rate: float
    l2: float
    best_epoch: int
    val_loss: float
    val_accuracy: float


@dataclasses.dataclass(frozen=True)
class RecipeResult:
    """What the recipe chose and trained.

    Attributes:
        chosen: The chosen setting.
        candidates: Every setting tried, in grid order.
        selection: The chosen setting's head trained on the training
            images only: the one the validation numbers are of.
        final: The head to export (trained on training and validation
            images when `refit`, else `selection`).
        refit: Whether `final` was trained on the validation images too.
        history: Per-epoch ``loss``, ``accuracy``, ``val_loss``,
            ``val_accuracy`` of the chosen setting's selection run.
    """

    chosen: Candidate
    candidates: tuple[Candidate, ...]
    selection: Head
    final: Head
    refit: bool
    history: dict[str, list[float]]

    def describe(self) -> str:
        """One line: what was chosen, and on which images the exported
        model was trained."""
        c = self.chosen
        text = (
            f"recipe imagehub: learning rate {c.learning_rate:g}, L2 "
            f"{c.l2:g}, {c.best_epoch} epochs, chosen among "
            f"{len(self.candidates)} settings on the validation images"
        )
        if self.refit:
            text += (
                "; the exported model was then trained on training + "
                "validation images (the validation numbers are of the "
                "model trained without them)"
            )
        return text

    def to_dict(self) -> dict[str, object]:
        """The JSON form written to metrics.json (``recipe``)."""
        return {
            "name": "imagehub",
            "chosen": dataclasses.asdict(self.chosen),
            "candidates": [dataclasses.asdict(c) for c in self.candidates],
            "refit_on_validation": self.refit,
        }


def grid(config: RetrainConfig) -> list[tuple[float, float]]:
    """The (learning rate, L2) settings to try; a given flag fixes its
    axis."""
    rates = (
        LEARNING_RATES
        if config.learning_rate is None
        else (config.learning_rate,)
    )
    l2s = (
        L2_STRENGTHS
        if config.l2_regularizer is None
        else (config.l2_regularizer,)
    )
    return [(lr, l2) for lr in rates for l2 in l2s]


def _smooth(labels: np.ndarray, k: int, smoothing: float) -> np.ndarray:
    hot = np.eye(k, dtype=np.float32)[labels]
    return hot * (1.0 - smoothing) + smoothing / k


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * logits))  # no overflow warnings


def _loss_and_accuracy(head: Head, x: np.ndarray, y: np.ndarray):
    logits = head.logits(x)
    if y.ndim == 2:  # multi-label: binary cross-entropy, exact sets
        p = np.clip(_sigmoid(logits), 1e-7, 1 - 1e-7)
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        return loss, float(np.mean(((p >= 0.5) == (y > 0.5)).all(axis=1)))
    logits = logits - logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = float(-np.mean(log_p[np.arange(len(y)), y]))
    return loss, float(np.mean(np.argmax(logits, axis=1) == y))


# A diverging run overflows to inf and NaN, which the loss check in
# train_head reports as such; NumPy's warnings on the way would only be noise.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def train_head(
    x: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    config: RetrainConfig,
    learning_rate: float,
    l2: float,
    epochs: int,
    seed: int,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    patience: int | None = None,
    sample_weights: np.ndarray | None = None,
) -> tuple[Head, int, dict[str, list[float]]]:
    """Trains Dropout -> Dense on features in NumPy, with the optimizer
    of `config` (SGD with its momentum, or Adam).

    Args:
        x: [n, features] training features.
        y: [n] class indices; or, for a multi-label head (one sigmoid per
            class, binary cross-entropy averaged over the classes as
            Keras's), [n, num_classes] targets in {0, 1}.
        num_classes: Number of classes.
        config: Optimizer, momentum, batch size, dropout, label
            smoothing, L1.
        learning_rate: The optimizer's learning rate.
        l2: L2 strength on the kernel (Keras's: ``l2 * sum(kernel**2)``).
        epochs: The most epochs to train.
        seed: Seed of the initial weights, the batch order and dropout.
        val: Validation (features, labels) for early stopping, or None.
        patience: Stop after this many epochs without a lower validation
            loss, keeping the best epoch's weights; None: train `epochs`.
        sample_weights: Per-example loss weights, or None.

    Returns:
        ``(head, best_epoch, history)``; best_epoch is `epochs` without
        early stopping.

    Raises:
        TrainingDivergedError: The loss became NaN or infinite.
    """
    rng = np.random.default_rng(seed)
    n, d = x.shape
    k = num_classes
    x = np.asarray(x, np.float32)
    limit = math.sqrt(6.0 / (d + k))  # Glorot uniform, as Keras's Dense
    kernel = rng.uniform(-limit, limit, (d, k)).astype(np.float32)
    bias = np.zeros(k, np.float32)
    multi_label = y.ndim == 2
    targets = (
        # Keras's BinaryCrossentropy smoothing: towards 0.5.
        y * (1.0 - config.label_smoothing) + 0.5 * config.label_smoothing
        if multi_label
        else _smooth(y, k, config.label_smoothing)
    ).astype(np.float32)
    weights = (
        np.ones(n, np.float32)
        if sample_weights is None
        else np.asarray(sample_weights, np.float32)
    )
    m = [np.zeros_like(kernel), np.zeros_like(bias)]
    v = [np.zeros_like(kernel), np.zeros_like(bias)]
    beta1, beta2, eps = 0.9, 0.999, 1e-7  # Keras's Adam defaults
    keep = 1.0 - config.dropout_rate
    adam = config.optimizer == "adam"
    step = 0
    history: dict[str, list[float]] = {}
    best = (math.inf, 0, kernel.copy(), bias.copy())
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        losses = []
        for start in range(0, n, config.batch_size):
            batch = order[start : start + config.batch_size]
            xb = x[batch]
            if config.dropout_rate:
                xb = xb * (rng.random(xb.shape) < keep) / keep
            logits = xb @ kernel + bias
            wb = weights[batch][:, None]
            tb = targets[batch]
            if multi_label:
                p = _sigmoid(logits)
                q = np.clip(p, 1e-7, 1 - 1e-7)
                bce = tb * np.log(q) + (1 - tb) * np.log(1 - q)
                losses.append(float(-np.mean(wb * bce)))
                grad_logits = wb * (p - tb) / (len(batch) * k)
            else:
                logits -= logits.max(axis=1, keepdims=True)
                p = np.exp(logits)
                p /= p.sum(axis=1, keepdims=True)
                losses.append(
                    float(-np.mean(wb * tb * np.log(np.maximum(p, 1e-12))) * k)
                )
                grad_logits = wb * (p - tb) / len(batch)
            grads = [
                xb.T @ grad_logits
                + 2.0 * l2 * kernel
                + config.l1_regularizer * np.sign(kernel),
                grad_logits.sum(axis=0),
            ]
            step += 1
            for i, (param, grad) in enumerate(
                zip((kernel, bias), grads, strict=True)
            ):
                if adam:
                    m[i] = beta1 * m[i] + (1 - beta1) * grad
                    v[i] = beta2 * v[i] + (1 - beta2) * grad * grad
                    scale = (
                        learning_rate
                        * math.sqrt(1 - beta2**step)
                        / (1 - beta1**step)
                    )
                    param -= (scale * m[i] / (np.sqrt(v[i]) + eps)).astype(
                        np.float32
                    )
                else:  # Keras's SGD: velocity = momentum * velocity - lr * g
                    m[i] = config.momentum * m[i] - learning_rate * grad
                    param += m[i].astype(np.float32)
        loss = float(np.mean(losses))
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"The training loss became NaN or infinite at epoch "
                f"{epoch}; training stopped and nothing was exported. "
                f"Lower --learning_rate (it is {learning_rate:g})."
            )
        head = Head(kernel, bias)
        _, accuracy = _loss_and_accuracy(head, x, y)
        history.setdefault("loss", []).append(loss)
        history.setdefault("accuracy", []).append(accuracy)
        if val is None:
            continue
        val_loss, val_accuracy = _loss_and_accuracy(head, *val)
        history.setdefault("val_loss", []).append(val_loss)
        history.setdefault("val_accuracy", []).append(val_accuracy)
        if val_loss < best[0]:
            best = (val_loss, epoch, kernel.copy(), bias.copy())
        elif patience is not None and epoch - best[1] >= patience:
            break
    if val is None or patience is None:
        return Head(kernel.copy(), bias.copy()), epochs, history
    return Head(best[2], best[3]), best[1], history


def run_recipe(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    *,
    num_classes: int,
    config: RetrainConfig,
    seed: int,
    refit: bool = True,
    sample_weights: tuple[np.ndarray, np.ndarray] | None = None,
    progress: ProgressFn | None = None,
) -> RecipeResult:
    """Searches the grid on `val`, then trains the final head.

    Args:
        train: Training (features, labels).
        val: Validation (features, labels).
        num_classes: Number of classes.
        config: The run's settings (see the module docstring).
        seed: Seed of every setting's run (the same for each, so they
            differ only in the setting).
        refit: Train the final head on training and validation images.
        sample_weights: (training, validation) per-example weights.
        progress: Receives ``search`` events (settings tried / total).

    Returns:
        The `RecipeResult`.
    """
    epochs = MAX_EPOCHS
    patience: int | None = config.early_stopping_patience or PATIENCE
    if config.train_epochs is not None:  # given: exactly that many
        epochs, patience = config.train_epochs, None
    candidates, runs = [], []
    settings = grid(config)
    report(progress, STAGE_SEARCH, 0, len(settings))
    for lr, l2 in settings:
        head, best_epoch, history = train_head(
            *train,
            num_classes=num_classes,
            config=config,
            learning_rate=lr,
            l2=l2,
            epochs=epochs,
            seed=seed,
            val=val,
            patience=patience,
            sample_weights=None
            if sample_weights is None
            else sample_weights[0],
        )
        val_loss, val_accuracy = _loss_and_accuracy(head, *val)
        candidates.append(Candidate(lr, l2, best_epoch, val_loss, val_accuracy))
        runs.append((head, history))
        report(progress, STAGE_SEARCH, len(runs), len(settings))
        logger.info(
            "learning rate %g, l2 %g: best epoch %d, validation loss %.4f, "
            "accuracy %.4f",
            lr,
            l2,
            best_epoch,
            val_loss,
            val_accuracy,
        )
    best = min(range(len(candidates)), key=lambda i: candidates[i].val_loss)
    chosen = candidates[best]
    selection, history = runs[best]
    final = selection
    if refit:
        weights = None
        if sample_weights is not None:
            weights = np.concatenate(sample_weights)
        final, _, _ = train_head(
            np.concatenate([train[0], val[0]]),
            np.concatenate([train[1], val[1]]),
            num_classes=num_classes,
            config=config,
            learning_rate=chosen.learning_rate,
            l2=chosen.l2,
            epochs=chosen.best_epoch,
            seed=seed,
            sample_weights=weights,
        )
    logger.info(
        "chose learning rate %g, l2 %g, %d epochs%s",
        chosen.learning_rate,
        chosen.l2,
        chosen.best_epoch,
        "; final fit on training + validation images" if refit else "",
    )
    return RecipeResult(
        chosen=chosen,
        candidates=tuple(candidates),
        selection=selection,
        final=final,
        refit=refit,
        history=history,
    )
