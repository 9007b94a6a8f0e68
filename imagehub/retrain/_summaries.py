"""TensorBoard logs of a run (--summaries_dir): loss, accuracy and
learning rate per epoch, written by TensorFlow's own summary writer, from a
Keras callback or from the history of a run that trained outside Keras.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from imagehub.retrain._config import RetrainConfig


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


def write_history(
    directory: str | None, history: dict[str, list[float]], lr: float
) -> None:
    """Every epoch of `history`, for a run that trained outside Keras."""
    if not directory:
        return
    for i in range(len(history.get("loss", ()))):
        logs = {k: v[i] for k, v in history.items() if i < len(v)}
        write_summaries(directory, i + 1, logs, lr)


def summary_callback(config: RetrainConfig):
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
