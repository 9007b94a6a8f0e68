"""Scoring one model's features on the shared folds: a linear probe
trained by retrain's own head recipe, and cosine k-nearest neighbours.

For each fold, the other folds are the training part. The probe treats
that part exactly as `imagehub retrain` treats a folder: retrain's split
holds out `validation_split` of it for validation (which the recipe may
use, e.g. for early stopping), and `retrain.build_head`,
`retrain.compile_model` and `retrain.train` train the head on the rest.
The held-out fold is used for scoring only. kNN picks its k by
leave-one-out accuracy on the training part.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from imagehub.compare._stats import choose_k
from imagehub.compare._stats import knn_predict


@dataclasses.dataclass(frozen=True)
class FoldScores:
    """Out-of-fold predictions of one method (probe or kNN).

    Attributes:
        predictions: The predicted class of every image, each made by the
            model trained without that image's fold.
        fold_accuracies: Accuracy on each fold.
        ks: kNN's chosen k per fold (empty for the probe).
    """

    predictions: np.ndarray
    fold_accuracies: tuple[float, ...]
    ks: tuple[int, ...] = ()

    def correct(self, labels: np.ndarray) -> np.ndarray:
        same: np.ndarray = self.predictions == np.asarray(labels)
        return same

    @property
    def mean(self) -> float:
        return float(np.mean(self.fold_accuracies))

    @property
    def spread(self) -> float:
        """Standard deviation of the fold accuracies."""
        return float(np.std(self.fold_accuracies, ddof=1))


def _fold_accuracies(
    labels: np.ndarray, predictions: np.ndarray, folds: np.ndarray
) -> tuple[float, ...]:
    return tuple(
        float(np.mean(predictions[folds == f] == labels[folds == f]))
        for f in range(int(folds.max()) + 1)
    )


def knn_scores(
    features: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    num_classes: int,
) -> FoldScores:
    """Cosine kNN on every fold, k chosen on its training part."""
    predictions = np.empty(len(labels), np.int64)
    ks = []
    for f in range(int(folds.max()) + 1):
        train, test = folds != f, folds == f
        k = choose_k(features[train], labels[train], num_classes)
        predictions[test] = knn_predict(
            features[train], labels[train], features[test], num_classes, k
        )
        ks.append(k)
    return FoldScores(
        predictions, _fold_accuracies(labels, predictions, folds), tuple(ks)
    )


def _feature_data(
    prepared: Any,
    features: np.ndarray,
    labels: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    train_index: Any,
    val_index: Any,
) -> Any:
    """retrain's `Data` on cached features: per-epoch training batches in
    the order `retrain.train` asks for, and the validation batches."""
    import tensorflow as tf

    from imagehub import retrain
    from imagehub.data import dataset_options

    config = prepared.config
    k = len(prepared.class_names)
    options = dataset_options()
    bs = config.batch_size
    x_train, y_train = features[train_rows], labels[train_rows]

    def one_hot(x: Any, y: Any) -> tuple[Any, Any]:
        return x, tf.one_hot(tf.cast(y, tf.int32), k)

    def epoch_dataset(order: np.ndarray) -> Any:
        ds = tf.data.Dataset.from_tensor_slices(
            (x_train[order], y_train[order])
        )
        return ds.map(one_hot).batch(bs).with_options(options)

    val_ds = (
        tf.data.Dataset.from_tensor_slices(
            (features[val_rows], labels[val_rows])
        )
        .map(one_hot)
        .batch(bs)
        .with_options(options)
    )
    return retrain.Data(
        train=train_index,
        val=val_index,
        skipped=(),
        train_features=x_train,
        val_features=features[val_rows],
        batches=retrain.TrainData(
            num_train=len(train_rows),
            epoch_dataset=epoch_dataset,
            val_dataset=val_ds,
        ),
    )


def probe_scores(
    prepared: Any,
    model: Any,
    index: Any,
    features: np.ndarray,
    folds: np.ndarray,
    on_fold: Callable[[int], None] | None = None,
) -> FoldScores:
    """retrain's head recipe, trained on each fold's training part.

    Args:
        prepared: retrain's `Prepared` of the model (config and seed).
        model: retrain's `Model` (its feature width).
        index: The compared images (an `imagehub.data.ImageIndex`).
        features: [len(index), num_features] features.
        folds: Fold of each image.
        on_fold: Called with the number of folds done.
    """
    import keras

    from imagehub import data
    from imagehub import retrain

    config = prepared.config
    seed = prepared.seed
    labels = np.asarray(index.labels, np.int64)
    num_classes = len(index.class_names)
    rows = {p: i for i, p in enumerate(index.paths)}
    # No checkpoints and no report: folds are not runs to resume.
    fold_prepared = dataclasses.replace(
        prepared,
        config=config.replace(resume=False),
        checkpoint_dir=None,
        report_dir=None,
    )
    # One head per model, reset to its initial weights and optimizer
    # state for each fold: the same start as a freshly built head, without
    # tracing Keras's training step again per fold (seconds each).
    keras.utils.set_random_seed(seed)
    head = retrain.build_head(model.num_features, num_classes, config, seed)
    retrain.compile_model(head, config)
    head.optimizer.build(head.trainable_variables)
    start_values = [np.array(v) for v in head.variables]
    start_optimizer = [np.array(v) for v in head.optimizer.variables]
    fold_model = dataclasses.replace(
        model,
        head=head,
        trained=head,
        saved_variables=tuple(head.variables),
        cached=True,
    )
    predictions = np.empty(len(labels), np.int64)
    for f in range(int(folds.max()) + 1):
        part = index.subset(np.flatnonzero(folds != f))
        train_index, val_index = data.split(part, config.validation_split, seed)
        for v, value in zip(head.variables, start_values, strict=True):
            v.assign(value)
        for v, value in zip(
            head.optimizer.variables, start_optimizer, strict=True
        ):
            v.assign(value)
        fold_data = _feature_data(
            fold_prepared,
            features,
            labels,
            np.asarray([rows[p] for p in train_index.paths], np.int64),
            np.asarray([rows[p] for p in val_index.paths], np.int64),
            train_index,
            val_index,
        )
        retrain.train(fold_prepared, fold_model, fold_data, None)
        test = np.flatnonzero(folds == f)
        logits = np.asarray(head(features[test], training=False))
        predictions[test] = logits.argmax(axis=1)
        if on_fold is not None:
            on_fold(f + 1)
    return FoldScores(predictions, _fold_accuracies(labels, predictions, folds))
