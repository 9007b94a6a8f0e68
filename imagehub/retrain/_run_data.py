"""The data phase of a run: the training and validation datasets, on
cached module features or on the images themselves."""

from __future__ import annotations

import os

import numpy as np

from imagehub.data import dataset_options
from imagehub.retrain import _features
from imagehub.retrain import _train
from imagehub.retrain._inputs import check_classes
from imagehub.retrain._inputs import record_undecodable
from imagehub.retrain._run import Run


def _one_hot_map(num_classes: int, weights: np.ndarray | None):
    import tensorflow as tf

    table = None if weights is None else tf.constant(weights, tf.float32)

    def fn(x, y):
        y = tf.cast(y, tf.int32)
        hot = tf.one_hot(y, num_classes)
        if table is None:
            return x, hot
        return x, hot, tf.gather(table, y)

    return fn


def _feature_fn(run: Run):
    """The frozen module in inference mode, traced once for any batch
    size (a retrace per batch shape costs seconds on real models)."""
    import tensorflow as tf

    backbone = run.backbone
    return tf.function(
        lambda images: backbone(images, training=False),
        input_signature=[tf.TensorSpec([None, *run.image_size, 3], tf.float32)],
    )


def _features_of(run: Run, index, name: str):
    """``(features, positions)`` of `index`'s images that decode, in
    the order of `index`, from the feature cache when it is current."""
    key = _features.cache_key(
        run.module_dir, run.image_size, run.config.resize, index.paths
    )
    cache = (
        _features.FeatureCache(
            os.path.join(run.checkpoint_dir, "features"), name
        )
        if run.checkpoint_dir
        else None
    )
    features, positions = _features.cached_features(
        cache,
        key,
        lambda: _features.compute_features(
            _feature_fn(run),
            run.images(index, with_paths=True),
            index.paths,
            run.progress,
        ),
    )
    order = np.argsort(positions, kind="stable")
    return features[order], positions[order]


def _cache_all_features(run: Run) -> None:
    """Features of the training and validation images, in one pass
    (one pipeline, one trace); images that fail to decode drop out of
    ``run.train_index`` and ``run.val_index`` and into the skipped."""
    from imagehub import data

    train, val = run.train_index, run.val_index
    n = len(train)
    both = data.ImageIndex(
        paths=list(train.paths) + list(val.paths),
        labels=list(train.labels) + list(val.labels),
        class_names=list(train.class_names),
        max_pixels=train.max_pixels,
        # What scan found in the headers; without it the reader would
        # open every file's header again before the first batch.
        plain_jpeg=(
            None
            if train.plain_jpeg is None or val.plain_jpeg is None
            else list(train.plain_jpeg) + list(val.plain_jpeg)
        ),
    )
    features, positions = _features_of(run, both, "images")
    in_train = positions < n
    run.train_features = features[in_train]
    run.val_features = features[~in_train]
    kept_train, kept_val = positions[in_train], positions[~in_train] - n
    missing = sorted(set(range(len(both))) - set(positions.tolist()))
    if missing:
        record_undecodable(run.index, both.subset(missing))
    if len(kept_train) < n:
        run.train_index = train.subset(kept_train)
    if len(kept_val) < len(val):
        run.val_index = val.subset(kept_val)


def prepare_data(run: Run) -> None:
    """Sets ``run.train_data``: per-epoch training datasets (augmented
    images, or cached features) and the validation dataset."""
    import tensorflow as tf

    config = run.config
    k = len(run.class_names)
    if run.cached:
        _cache_all_features(run)
        check_classes(run.train_index, config.image_dir or "")
    labels = np.asarray(run.train_index.labels, np.int64)
    weights = None
    if config.class_weights == "auto":
        weights = _train.class_weights(labels, k)
    to_targets = _one_hot_map(k, weights)
    bs = config.batch_size
    # dataset() sets these on image pipelines; the feature cache needs them
    # too (no autotuning thread to stall each epoch's end).
    options = dataset_options()
    if run.cached:
        feats = run.train_features

        def epoch_dataset(order):
            ds = tf.data.Dataset.from_tensor_slices(
                (feats[order], labels[order])
            )
            return ds.map(to_targets).batch(bs).with_options(options)

        val_ds = (
            tf.data.Dataset.from_tensor_slices(
                (run.val_features, np.asarray(run.val_index.labels))
            )
            .map(_one_hot_map(k, None))
            .batch(bs)
            .with_options(options)
        )
    else:
        augment = None
        if config.do_data_augmentation:
            import keras

            augment = keras.Sequential(
                _train.augmentation_layers(config, run.image_size, run.seed),
                name="augmentation",
            )

        def epoch_dataset(order):
            ds = run.images(run.train_index.subset(order))
            if augment is not None:
                ds = ds.map(
                    lambda x, y: (augment(x, training=True), y),
                    num_parallel_calls=tf.data.AUTOTUNE,
                )
            return ds.map(to_targets)

        val_ds = run.images(run.val_index).map(_one_hot_map(k, None))
    run.train_data = _train.TrainData(
        num_train=len(run.train_index),
        epoch_dataset=epoch_dataset,
        val_dataset=val_ds,
    )
