"""Stage 3 of a run, `load_data`: the training and validation data, on
cached module features or on the images themselves.

Feature caching: run the frozen module once per image, not every epoch.

make_image_classifier recomputed the module's features for every image at
every step. When the module is frozen and the images are not augmented those
features never change, so imagehub computes them once, keeps them in memory
and in a ``.npy`` file (with a key that says what they were computed from),
and trains the classification head on them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from imagehub import outputs
from imagehub.engines import EngineChoice
from imagehub.retrain._config import STAGE_FEATURES
from imagehub.retrain._config import ProgressFn
from imagehub.retrain._config import report
from imagehub.retrain._model import Model
from imagehub.retrain._model import augmentation_layers
from imagehub.retrain._prepare import Prepared
from imagehub.retrain._prepare import check_classes
from imagehub.retrain._prepare import warn_left_out

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1


def cache_key(
    module: str,
    image_size: tuple[int, int],
    resize: str,
    paths: list[str],
) -> str:
    """A digest of everything the features depend on.

    Files are identified by path, size and modification time, so editing an
    image, or re-exporting the module in place, invalidates the cache.
    """
    digest = hashlib.sha256()
    module_files = (
        [
            os.path.join(module, "saved_model.pb"),
            os.path.join(module, "variables", "variables.index"),
        ]
        if os.path.isdir(module)
        else []
    )
    head = {
        "format": CACHE_FORMAT_VERSION,
        "module": module,
        "module_files": [_stamp(p) for p in module_files],
        "image_size": list(image_size),
        "resize": resize,
    }
    digest.update(json.dumps(head, sort_keys=True).encode())
    for path in paths:
        digest.update(f"\n{path}\0{_stamp(path)}".encode())
    return digest.hexdigest()


def _stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


class FeatureCache:
    """Features of one image subset, stored as ``<prefix>.npy`` with a
    ``<prefix>.json`` that holds the key and the kept positions.

    Args:
        directory: Folder of the cache files (created on save).
        name: Subset name, e.g. ``"train"`` or ``"validation"``.
    """

    def __init__(self, directory: str | os.PathLike[str], name: str):
        self.npy_path = os.path.join(os.fspath(directory), f"{name}.npy")
        self.meta_path = os.path.join(os.fspath(directory), f"{name}.json")

    def load(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Returns ``(features, positions)`` if cached under `key`."""
        try:
            with open(self.meta_path, encoding="utf-8") as f:
                meta = json.load(f)
            if meta.get("key") != key:
                logger.info("feature cache %s is stale", self.npy_path)
                return None
            features = np.load(self.npy_path, allow_pickle=False)
        except (OSError, ValueError) as e:
            logger.debug("no usable feature cache %s: %s", self.npy_path, e)
            return None
        positions = np.asarray(meta["positions"], dtype=np.int64)
        if features.shape[0] != len(positions):
            return None
        logger.info("features loaded from %s", self.npy_path)
        return features, positions

    def engine(self) -> str:
        """The engine that computed the cached features (TensorFlow for
        caches written before engines were recorded)."""
        try:
            with open(self.meta_path, encoding="utf-8") as f:
                engine = json.load(f).get("engine")
        except (OSError, ValueError, AttributeError):
            return "tensorflow"
        return engine if isinstance(engine, str) else "tensorflow"

    def save(
        self,
        key: str,
        features: np.ndarray,
        positions: np.ndarray,
        engine: str | None = None,
    ) -> None:
        """Writes the features atomically (the key file last); `engine`,
        what computed them, is recorded beside them, not in the key."""
        os.makedirs(os.path.dirname(self.npy_path) or ".", exist_ok=True)
        with outputs.atomic_file(self.npy_path, overwrite=True) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, features, allow_pickle=False)
        meta: dict[str, Any] = {
            "key": key,
            "positions": [int(p) for p in positions],
        }
        if engine is not None:
            meta["engine"] = engine
        with outputs.atomic_file(self.meta_path, overwrite=True) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(meta, f)


def decode_paths(batch_paths: Any) -> list[str]:
    """The file paths of a batch of the reader's path tensor."""
    return [p.decode("utf-8", "surrogateescape") for p in batch_paths.numpy()]


def compute_features(
    backbone: Callable[[Any], Any],
    batches: Any,
    paths: list[str],
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Runs `backbone` once over every image.

    Args:
        backbone: Maps a float32 image batch to a feature batch (the frozen
            module in inference mode).
        batches: A dataset of ``(images, paths)`` batches in the order of
            `paths` (files that fail to decode are left out by the reader).
        paths: The paths the dataset reads, in order.
        progress: Receives ``features`` events (images done / total).

    Returns:
        ``(features, positions)``: float32 [n, num_features] and, for each
        row, its position in `paths`.
    """
    start = time.perf_counter()
    where = {p: i for i, p in enumerate(paths)}
    chunks, positions = [], []
    total = len(paths)
    report(progress, STAGE_FEATURES, 0, total)
    for images, batch_paths in batches:
        chunks.append(np.asarray(backbone(images), dtype=np.float32))
        positions += [where[p] for p in decode_paths(batch_paths)]
        report(progress, STAGE_FEATURES, len(positions), total)
    if not chunks:
        raise ValueError("no image could be read; nothing to compute")
    logger.info(
        "features of %d images in %.1f s",
        len(positions),
        time.perf_counter() - start,
    )
    return np.concatenate(chunks), np.asarray(positions, dtype=np.int64)


def cached_features(
    cache: FeatureCache | None,
    key: str,
    compute: Callable[[], tuple[np.ndarray, np.ndarray]],
    computed_by: Callable[[], str | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features from `cache` under `key`, else computed (and cached, with
    the engine `computed_by` names once `compute` ran)."""
    if cache is not None:
        hit = cache.load(key)
        if hit is not None:
            return hit
    features, positions = compute()
    if cache is not None:
        engine = computed_by() if computed_by is not None else None
        cache.save(key, features, positions, engine=engine)
    return features, positions


class FeatureEngine:
    """The frozen module's feature pass, run by `--engine`.

    The engine is chosen (`auto`, as `imagehub embed` chooses) or
    compiled at the first batch, whose decoded images are the parity
    probes (`imagehub.engines.select_engine`): real images of the job.
    When TensorFlow runs the pass it is today's traced function, so
    `auto` choosing TensorFlow costs nothing.

    Args:
        prepared: The run's prepared inputs (config, module folder).
        model: The run's models (the frozen backbone, the input size).
        num_images: Images in the pass (`auto` compiles only for big
            jobs).

    Attributes:
        used: What ran the pass and why, once the first batch ran.
    """

    def __init__(self, prepared: Prepared, model: Model, num_images: int):
        self._prepared = prepared
        self._model = model
        self._num_images = num_images
        self._run: Callable[[Any], Any] | None = None
        self._used: EngineChoice | None = None

    @property
    def used(self) -> EngineChoice | None:
        """What ran the pass and why (for `auto`'s first run, where its
        race over the pass's batches stands); None before the first
        batch."""
        from imagehub import engines

        if self._run is None:  # set together with `_used`
            return self._used
        return engines.current_choice(self._run, self._used)

    def __call__(self, images: Any) -> Any:
        if self._run is None:
            self._run, self._used = self._start(images)
            logger.debug(  # the CLI prints it; `RetrainResult.engine`
                "feature pass: engine %s (%s)",
                self._used.engine,
                self._used.reason,
            )
        return self._run(images)

    def _start(self, images: Any) -> tuple[Callable[[Any], Any], EngineChoice]:
        from imagehub import engines

        config = self._prepared.config
        tensorflow = _feature_fn(self._model)
        if config.engine == "tensorflow":
            return tensorflow, EngineChoice("tensorflow", "--engine tensorflow")
        if config.do_fine_tuning:
            # The config refuses other engines with fine-tuning: `auto`.
            return tensorflow, EngineChoice(
                "tensorflow",
                "auto: --do_fine_tuning trains the module in TensorFlow; "
                "the other engines run a frozen module only",
            )
        compiled, choice = engines.select_engine(
            self._prepared.module_dir,
            config.engine,
            image_size=self._model.image_size,
            batch_size=config.batch_size,
            probe_images=np.asarray(images, np.float32),
            reference=self._model.backbone.resolved_object,
            num_images=self._num_images,
        )
        if choice.engine == "tensorflow":
            return tensorflow, choice
        return compiled, choice


# --- the data stage ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainData:
    """What `_train.fit` trains on.

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


@dataclasses.dataclass(frozen=True)
class Data:
    """The images a run trains and validates on, and how.

    Attributes:
        train: The training images that decode (an `ImageIndex`).
        val: The validation images that decode.
        skipped: ``(path, reason)`` of every file left out (the scan's
            and the feature pass's).
        train_features: Cached features of `train`, or None.
        val_features: Cached features of `val`, or None.
        batches: The datasets `_train.fit` reads.
        engine: What ran the module over the images before training
            (the feature pass's engine) and why; None when the module
            runs only inside training.
    """

    train: Any
    val: Any
    skipped: tuple[tuple[str, str], ...]
    train_features: np.ndarray | None
    val_features: np.ndarray | None
    batches: TrainData
    engine: EngineChoice | None = None


def images(prepared: Prepared, model: Model, index, with_paths: bool = False):
    """Batches of `index`'s images at the model's input size."""
    from imagehub import data

    return data.dataset(
        index,
        model.image_size,
        batch_size=prepared.config.batch_size,
        resize=prepared.config.resize,
        with_paths=with_paths,
    )


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency weights, 1.0 on average over the images."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.zeros(num_classes, np.float64)
    present = counts > 0
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights.astype(np.float32)


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


def _feature_fn(model: Model):
    """The frozen module in inference mode, traced once for any batch
    size (a retrace per batch shape costs seconds on real models)."""
    import tensorflow as tf

    backbone = model.backbone
    return tf.function(
        lambda x: backbone(x, training=False),
        input_signature=[
            tf.TensorSpec([None, *model.image_size, 3], tf.float32)
        ],
    )


def feature_pass(
    prepared: Prepared, model: Model, index, progress: ProgressFn | None
) -> tuple[np.ndarray, np.ndarray, EngineChoice]:
    """``(features, positions)`` of `index`'s images that decode, in the
    order of `index` (from the feature cache when it is current), and
    what computed the features and why.

    The cache key leaves the engine out on purpose: every engine other
    than TensorFlow passed parity (1e-4 relative) on this module before
    it ran, and only float32 engines run here, so features from any
    engine stand for TensorFlow's within that tolerance. With the engine
    in the key, `auto` changing its choice (or `imagehub compare`, which
    fills the same cache) would recompute the same features. What
    computed them is recorded beside them and reported.
    """
    key = cache_key(
        prepared.module_dir,
        model.image_size,
        prepared.config.resize,
        index.paths,
    )
    cache = (
        FeatureCache(
            os.path.join(prepared.checkpoint_dir, "features"), "images"
        )
        if prepared.checkpoint_dir
        else None
    )
    runner = FeatureEngine(prepared, model, len(index))
    features, positions = cached_features(
        cache,
        key,
        lambda: compute_features(
            runner,
            images(prepared, model, index, with_paths=True),
            index.paths,
            progress,
        ),
        computed_by=lambda: runner.used.engine if runner.used else None,
    )
    used = runner.used
    if used is None:  # read from the cache: no engine ran
        engine = cache.engine() if cache is not None else "tensorflow"
        where = cache.npy_path if cache is not None else ""
        used = EngineChoice(
            engine,
            f"features read from the feature cache {where}, "
            f"computed by {engine} earlier",
        )
    order = np.argsort(positions, kind="stable")
    return features[order], positions[order], used


def _undecodable(bad_index) -> list[tuple[str, str]]:
    """``(path, reason)`` of the images that did not decode in the
    feature pass, each warned about."""
    from imagehub import data

    reasons = dict(data.validate(bad_index).skipped)
    left_out = []
    for path in bad_index.paths:
        reason = reasons.get(path, "did not decode in the feature pass")
        warn_left_out(path, reason)
        left_out.append((path, reason))
    return left_out


def _cache_all_features(
    prepared: Prepared, model: Model, progress: ProgressFn | None
) -> tuple[
    Any,
    Any,
    tuple[tuple[str, str], ...],
    np.ndarray,
    np.ndarray,
    EngineChoice,
]:
    """Features of the training and validation images, in one pass (one
    pipeline, one trace); images that fail to decode drop out of the
    training and validation parts and into the skipped.

    Returns:
        ``(train, val, skipped, train_features, val_features, engine)``.
    """
    from imagehub import data

    train, val = prepared.train, prepared.val
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
    features, positions, engine = feature_pass(prepared, model, both, progress)
    in_train = positions < n
    kept_train, kept_val = positions[in_train], positions[~in_train] - n
    missing = sorted(set(range(len(both))) - set(positions.tolist()))
    skipped = prepared.skipped
    if missing:
        skipped += tuple(_undecodable(both.subset(missing)))
    if len(kept_train) < n:
        train = train.subset(kept_train)
    if len(kept_val) < len(val):
        val = val.subset(kept_val)
    check_classes(train, prepared.image_dir)
    return (
        train,
        val,
        skipped,
        features[in_train],
        features[~in_train],
        engine,
    )


def load_data(
    prepared: Prepared, model: Model, progress: ProgressFn | None
) -> Data:
    """The training data: per-epoch training datasets (augmented images,
    or cached features) and the validation dataset."""
    import tensorflow as tf

    from imagehub.data import dataset_options

    config = prepared.config
    k = len(prepared.class_names)
    train, val, skipped = prepared.train, prepared.val, prepared.skipped
    train_features = val_features = None
    engine = None
    if model.cached or config.warm_starts:
        (train, val, skipped, train_features, val_features, engine) = (
            _cache_all_features(prepared, model, progress)
        )
    labels = np.asarray(train.labels, np.int64)
    weights = None
    if config.class_weights == "auto":
        weights = class_weights(labels, k)
    to_targets = _one_hot_map(k, weights)
    bs = config.batch_size
    # dataset() sets these on image pipelines; the feature cache needs them
    # too (no autotuning thread to stall each epoch's end).
    options = dataset_options()
    if model.cached and train_features is not None:
        feats = train_features

        def epoch_dataset(order):
            ds = tf.data.Dataset.from_tensor_slices(
                (feats[order], labels[order])
            )
            return ds.map(to_targets).batch(bs).with_options(options)

        val_ds = (
            tf.data.Dataset.from_tensor_slices(
                (val_features, np.asarray(val.labels))
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
                augmentation_layers(config, model.image_size, prepared.seed),
                name="augmentation",
            )

        def epoch_dataset(order):
            ds = images(prepared, model, train.subset(order))
            if augment is not None:
                ds = ds.map(
                    lambda x, y: (augment(x, training=True), y),
                    num_parallel_calls=tf.data.AUTOTUNE,
                )
            return ds.map(to_targets)

        val_ds = images(prepared, model, val).map(_one_hot_map(k, None))
    return Data(
        train=train,
        val=val,
        skipped=skipped,
        train_features=train_features,
        val_features=val_features,
        batches=TrainData(
            num_train=len(train),
            epoch_dataset=epoch_dataset,
            val_dataset=val_ds,
        ),
        engine=engine,
    )
