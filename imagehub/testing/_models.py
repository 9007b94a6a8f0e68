"""Tiny SavedModels for tests, written by hand as a `tf.Module`.

They follow the reusable image API (SPEC R, I, F/C, M1) without going through
`imagehub.export`, so the consumers (`load`, `KerasLayer`, `check`, `embed`)
are tested independently of the exporter. A few hundred weights; saving takes
about a second.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence

import numpy as np

from imagehub.spec import CARD_FILENAME
from imagehub.spec import INPUT_IMAGES
from imagehub.spec import OUTPUT_KEYS
from imagehub.spec import SIGNATURE_FLOAT
from imagehub.spec import TASK_CLASSIFICATION
from imagehub.spec import TASK_FEATURE_VECTOR
from imagehub.spec import ModelCard

DEFAULT_MOMENTUM = 0.99
DEFAULT_DROPOUT = 0.25
L2 = 1e-3


def _build_module(
    task: str, num_outputs: int, image_size: int, seed: int
):  # -> tf.Module
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def var(shape, name, trainable=True, init=None):
        value = (
            init
            if init is not None
            else rng.normal(0.0, 0.3, size=shape).astype(np.float32)
        )
        return tf.Variable(value, trainable=trainable, name=name)

    # AutoTrackable, not tf.Module: tf.Module's read-only `variables`
    # property would shadow the saved attribute lists R5/R6 ask for.
    def _l2_loss(v):
        return tf.function(
            lambda: L2 * tf.reduce_sum(tf.square(v)), input_signature=[]
        )

    class TinyImageModel(tf.__internal__.tracking.AutoTrackable):
        """conv3x3(3->4) -> BN -> relu -> dropout -> conv3x3(4->8) -> relu
        -> global average pool [-> dense to num_classes logits]."""

        def __init__(self):
            self.k1 = var((3, 3, 3, 4), "conv1/kernel")
            self.gamma = var((4,), "bn/gamma", init=np.ones(4, np.float32))
            self.beta = var((4,), "bn/beta", init=np.zeros(4, np.float32))
            self.mean = var(
                (4,), "bn/moving_mean", False, np.zeros(4, np.float32)
            )
            self.var_ = var(
                (4,), "bn/moving_variance", False, np.ones(4, np.float32)
            )
            self.k2 = var((3, 3, 4, 8), "conv2/kernel")
            self.b2 = var((8,), "conv2/bias", init=np.zeros(8, np.float32))
            self.head = None
            if task == TASK_CLASSIFICATION:
                self.head = var((8, num_outputs), "logits/kernel")
                self.head_b = var(
                    (num_outputs,),
                    "logits/bias",
                    init=np.zeros(num_outputs, np.float32),
                )
            self.regularization_losses = [
                _l2_loss(v) for v in (self.k1, self.k2)
            ]

        @tf.function
        def __call__(
            self,
            images,
            training=False,
            batch_norm_momentum=DEFAULT_MOMENTUM,
            dropout_rate=DEFAULT_DROPOUT,
        ):
            x = tf.nn.conv2d(images - 0.5, self.k1, 1, "SAME")
            if training:
                mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
                m = tf.cast(batch_norm_momentum, tf.float32)
                self.mean.assign(self.mean * m + mean * (1.0 - m))
                self.var_.assign(self.var_ * m + variance * (1.0 - m))
            else:
                mean, variance = self.mean, self.var_
            x = tf.nn.batch_normalization(
                x, mean, variance, self.beta, self.gamma, 1e-3
            )
            x = tf.nn.relu(x)
            if training:
                x = tf.nn.dropout(x, rate=dropout_rate)
            x = tf.nn.relu(tf.nn.conv2d(x, self.k2, 1, "SAME") + self.b2)
            x = tf.reduce_mean(x, axis=[1, 2])
            if self.head is not None:
                x = tf.matmul(x, self.head) + self.head_b
            return x

    module = TinyImageModel()
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    for training in (False, True):
        module.__call__.get_concrete_function(spec, training=training)
        module.__call__.get_concrete_function(
            spec,
            training=training,
            batch_norm_momentum=tf.TensorSpec([], tf.float32),
            dropout_rate=tf.TensorSpec([], tf.float32),
        )
    # variables / trainable_variables as explicit lists (R5, R6).
    all_vars = [
        module.k1,
        module.gamma,
        module.beta,
        module.mean,
        module.var_,
        module.k2,
        module.b2,
    ]
    if module.head is not None:
        all_vars += [module.head, module.head_b]
    module.variables = all_vars
    module.trainable_variables = [v for v in all_vars if v.trainable]
    return module, image_size


def tiny_card(
    task: str,
    num_outputs: int,
    size: int,
    *,
    hparams: dict[str, float],
    source: str,
    labels: Sequence[str] | None = None,
) -> ModelCard:
    """The model card of a tiny test model: default input `size` x `size`,
    any size from 3 up, a float signature, and for a classifier softmax
    and `labels` (default ``class_0``...)."""
    classifier = task == TASK_CLASSIFICATION
    if classifier and labels is None:
        labels = tuple(f"class_{i}" for i in range(num_outputs))
    return ModelCard(
        task=task,
        num_outputs=num_outputs,
        default_size=(size, size),
        min_size=(3, 3),
        fixed_size=False,
        labels=tuple(labels) if labels is not None else None,
        activation="softmax" if classifier else None,
        hparams=dict(hparams),
        source=source,
        license="Apache-2.0",
        signatures=(SIGNATURE_FLOAT,),
    )


def write_tiny_model(
    path: str | os.PathLike[str],
    task: str = TASK_FEATURE_VECTOR,
    num_classes: int = 3,
    image_size: int = 16,
    labels: tuple[str, ...] | None = None,
    with_card: bool = True,
    seed: int = 0,
) -> str:
    """Writes a tiny conforming image SavedModel and returns its path.

    Args:
        path: Target directory (must not exist yet).
        task: ``"feature_vector"`` (8 features) or ``"classification"``.
        num_classes: Number of logits for a classifier.
        image_size: Default (square) input size in the card and the
            `serving_default` signature; any size >= 3 works in `__call__`.
        labels: Class names for the card (default ``class_0``...).
        with_card: Write the model card (M1). TF Hub models have none.
        seed: Seed of the random weights.

    Returns:
        `path` as a string.
    """
    import tensorflow as tf

    num_outputs = 8 if task == TASK_FEATURE_VECTOR else num_classes
    module, size = _build_module(task, num_outputs, image_size, seed)
    serving = tf.function(
        lambda images: {OUTPUT_KEYS[task]: module(images)},
        input_signature=[
            tf.TensorSpec([None, size, size, 3], tf.float32, name=INPUT_IMAGES)
        ],
    )
    card = None
    if with_card:
        card = tiny_card(
            task,
            num_outputs,
            size,
            labels=labels,
            hparams={
                "batch_norm_momentum": DEFAULT_MOMENTUM,
                "dropout_rate": DEFAULT_DROPOUT,
            },
            source="imagehub.testing.write_tiny_model",
        )
        # Track the card as an asset so it survives re-saving (R9); the
        # asset keeps its basename, so write it as imagehub.json first.
        card_dir = tempfile.mkdtemp(prefix="imagehub-card-")
        card_file = os.path.join(card_dir, CARD_FILENAME)
        with open(card_file, "w", encoding="utf-8") as f:
            f.write(card.to_json())
        module.model_card = tf.saved_model.Asset(card_file)
    try:
        tf.saved_model.save(
            module, os.fspath(path), signatures={SIGNATURE_FLOAT: serving}
        )
    finally:
        if card is not None:
            shutil.rmtree(card_dir, ignore_errors=True)
    return os.fspath(path)
