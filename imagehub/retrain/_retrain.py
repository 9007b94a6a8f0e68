"""`make_image_classifier`: read the images, train, check, export."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import shutil
import tempfile
import time
from typing import Any

import numpy as np

from imagehub.retrain import _atomic
from imagehub.retrain import _features
from imagehub.retrain import _report
from imagehub.retrain import _tflite
from imagehub.retrain import _train
from imagehub.retrain._checkpoint import STATE_FILE
from imagehub.retrain._checkpoint import Checkpointer
from imagehub.retrain._checkpoint import CheckpointMismatchError
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._errors import AccuracyError
from imagehub.retrain._errors import MissingDependencyError
from imagehub.retrain._errors import RetrainError
from imagehub.retrain._module import resolve_image_size
from imagehub.retrain._module import traced_image_size
from imagehub.retrain._progress import STAGE_EXPORT
from imagehub.retrain._progress import STAGE_VALIDATE
from imagehub.retrain._progress import ProgressFn
from imagehub.retrain._progress import report
from imagehub.spec import TASK_FEATURE_VECTOR

logger = logging.getLogger(__name__)

DEFAULT_IMAGE_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "_default",
    "flowers",
)
# Training images used to calibrate int8 quantization.
_REPRESENTATIVE_IMAGES = 100


@dataclasses.dataclass
class RetrainResult:
    """What a run produced.

    Attributes:
        model: The trained Keras classifier ([0, 1] images -> logits).
        labels: Class names in the order of the logits.
        image_size: (height, width) of the model's input.
        val_accuracy: Final validation accuracy.
        history: Per-epoch ``loss``, ``accuracy``, ``val_loss``,
            ``val_accuracy``.
        metrics: Everything in metrics.json.
        outputs: Output kind (``saved_model``, ``tflite``, ``labels``,
            ``report``, ``checkpoints``) -> path written.
        config: The configuration, with the seed that was used.
        skipped: ``(path, reason)`` of every image left out.
        seconds: Wall time of the run.
    """

    model: Any
    labels: tuple[str, ...]
    image_size: tuple[int, int]
    val_accuracy: float
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    outputs: dict[str, str]
    config: RetrainConfig
    skipped: list[tuple[str, str]]
    seconds: float


def _stem(path: str) -> str:
    path = os.path.abspath(path).rstrip(os.sep)
    root, ext = os.path.splitext(path)
    return root if ext in (".tflite", ".txt") else path


def _output_base(config: RetrainConfig) -> str | None:
    for path in (
        config.saved_model_dir,
        config.tflite_output_file,
        config.labels_output_file,
    ):
        if path:
            return _stem(path)
    return None


def default_report_dir(config: RetrainConfig) -> str | None:
    """--report_dir, else ``<saved model>_report`` beside the SavedModel
    (or beside the first output); None when nothing is exported."""
    if config.report_dir:
        return config.report_dir
    base = _output_base(config)
    return None if base is None else f"{base}_report"


def default_checkpoint_dir(config: RetrainConfig) -> str | None:
    """--checkpoint_dir, else ``<saved model>_checkpoints``."""
    if config.checkpoint_dir:
        return config.checkpoint_dir
    base = _output_base(config) or (
        _stem(config.report_dir) if config.report_dir else None
    )
    return None if base is None else f"{base}_checkpoints"


def _stored_seed(checkpoint_dir: str | None) -> int | None:
    import json

    if not checkpoint_dir:
        return None
    try:
        with open(
            os.path.join(checkpoint_dir, STATE_FILE), encoding="utf-8"
        ) as f:
            return int(json.load(f)["state"]["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


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


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None


def _check_classes(index, image_dir: str) -> None:
    counts = np.bincount(
        np.asarray(index.labels, np.int64), minlength=len(index.class_names)
    )
    empty = [n for n, c in zip(index.class_names, counts, strict=True) if not c]
    if empty:
        raise RetrainError(
            f"class folders without usable images: {', '.join(empty)} "
            f"(in {image_dir}); add images or remove the folders"
        )


def _scan(config: RetrainConfig, progress: ProgressFn | None, validate: bool):
    from imagehub import data

    image_dir = config.image_dir or DEFAULT_IMAGE_DIR
    try:
        index = data.scan(image_dir)
    except FileNotFoundError as e:
        raise RetrainError(f"--image_dir: {e}") from e
    if not index.labelled or len(index.class_names) < 2:
        raise RetrainError(
            f"--image_dir {image_dir!r} must hold one subfolder of images "
            f"per class, and at least two classes; found "
            f"{len(index.class_names)} class folders"
        )
    # Files that are not images (a LICENSE.txt, .DS_Store) are noted;
    # images that do not decode are warned about.
    for path, reason in index.skipped:
        logger.info("not used: %s: %s", path, reason)
    scanned = len(index.skipped)
    if validate:
        index = data.validate(
            index,
            progress=lambda done, total: report(
                progress, STAGE_VALIDATE, done, total
            ),
        )
    for path, reason in index.skipped[scanned:]:
        logger.warning("left out %s: %s", path, reason)
    _check_classes(index, image_dir)
    return index


class _Run:
    """One retraining run; `make_image_classifier` drives it."""

    def __init__(self, config: RetrainConfig, progress: ProgressFn | None):
        self.config = config
        self.progress = progress

    # --- setup ----------------------------------------------------------
    def setup(self) -> None:
        import imagehub
        from imagehub import data
        from imagehub.spec import read_card

        config = self.config
        if config.summaries_dir and not _installed("tensorboard"):
            raise MissingDependencyError(
                "--summaries_dir writes TensorBoard logs, which needs the "
                "tensorboard package: pip install tensorboard"
            )
        if config.set_memory_growth:
            import tensorflow as tf

            for gpu in tf.config.list_physical_devices("GPU"):
                tf.config.experimental.set_memory_growth(gpu, True)
        # With cached features the feature pass reads every image once
        # anyway (and bad ones drop out of it), so a separate pre-flight
        # pass would only double the decoding.
        self.index = _scan(
            config,
            self.progress,
            validate=config.validate_images and not config.use_feature_cache,
        )
        self.class_names = list(self.index.class_names)
        from imagehub.hub import HubError

        try:
            self.module_dir = imagehub.resolve(config.tfhub_module)
        except HubError as e:
            raise RetrainError(f"--tfhub_module: {e}") from e
        self.card = read_card(self.module_dir)
        if self.card is not None and self.card.task != TASK_FEATURE_VECTOR:
            raise RetrainError(
                f"--tfhub_module {config.tfhub_module!r} is a "
                f"{self.card.task} model; retraining needs an image feature "
                "vector model (export one with `imagehub export`)"
            )
        self.checkpoint_dir = default_checkpoint_dir(config)
        seed = config.seed
        if seed is None and config.resume:
            seed = _stored_seed(self.checkpoint_dir)
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        self.seed = int(seed)
        import keras

        keras.utils.set_random_seed(self.seed)
        self.train_index, self.val_index = data.split(
            self.index, config.validation_split, self.seed
        )
        if not len(self.train_index) or not len(self.val_index):
            raise RetrainError(
                f"{len(self.index)} images cannot be split into training "
                f"and validation with validation_split="
                f"{config.validation_split}; add images"
            )

    def strategy_scope(self):
        if self.config.distribution_strategy == "mirrored":
            import tensorflow as tf

            self._strategy = tf.distribute.MirroredStrategy()
            return self._strategy.scope()
        return contextlib.nullcontext()

    def build(self) -> None:
        import imagehub

        config = self.config
        self.backbone = imagehub.KerasLayer(
            self.module_dir, trainable=config.do_fine_tuning, name="module"
        )
        # The layer's loaded object: its traces tell a card-less module's
        # input size without loading the SavedModel a second time.
        loaded = getattr(self.backbone, "_loaded_obj", None)
        traced = None if loaded is None else traced_image_size(loaded)
        self.image_size = resolve_image_size(
            self.card, traced, config.image_size, config.tfhub_module
        )
        shape = self.backbone.compute_output_shape((None, *self.image_size, 3))
        self.num_features = int(shape[-1])
        self.head = _train.build_head(
            self.num_features, len(self.class_names), config, self.seed
        )
        self.classifier = _train.build_classifier(
            self.backbone, self.head, self.image_size
        )
        self.cached = config.use_feature_cache
        self.model = self.head if self.cached else self.classifier
        _train.compile_model(self.model, config)
        saved = self.model if config.do_fine_tuning else self.head
        self.saved_variables = saved.variables

    # --- data -----------------------------------------------------------
    def _images(self, index, with_paths: bool = False):
        from imagehub import data

        return data.dataset(
            index,
            self.image_size,
            batch_size=self.config.batch_size,
            resize=self.config.resize,
            with_paths=with_paths,
        )

    def _feature_fn(self):
        """The frozen module in inference mode, traced once for any batch
        size (a retrace per batch shape costs seconds on real models)."""
        if getattr(self, "_feature_fn_cache", None) is None:
            import tensorflow as tf

            backbone = self.backbone
            self._feature_fn_cache = tf.function(
                lambda images: backbone(images, training=False),
                input_signature=[
                    tf.TensorSpec([None, *self.image_size, 3], tf.float32)
                ],
            )
        return self._feature_fn_cache

    def _features(self, index, name: str):
        run = self._feature_fn()
        key = _features.cache_key(
            self.module_dir, self.image_size, self.config.resize, index.paths
        )
        cache = (
            _features.FeatureCache(
                os.path.join(self.checkpoint_dir, "features"), name
            )
            if self.checkpoint_dir
            else None
        )
        features, positions = _features.cached_features(
            cache,
            key,
            lambda: _features.compute_features(
                run,
                self._images(index, with_paths=True),
                index.paths,
                self.progress,
            ),
        )
        order = np.argsort(positions, kind="stable")
        return features[order], positions[order]

    def _cache_all_features(self) -> None:
        """Features of the training and validation images, in one pass
        (one pipeline, one trace); images that fail to decode drop out."""
        from imagehub import data

        train, val = self.train_index, self.val_index
        n = len(train)
        both = data.ImageIndex(
            paths=list(train.paths) + list(val.paths),
            labels=list(train.labels) + list(val.labels),
            class_names=list(train.class_names),
            max_pixels=train.max_pixels,
        )
        features, positions = self._features(both, "images")
        in_train = positions < n
        self.train_features = features[in_train]
        self.val_features = features[~in_train]
        kept_train, kept_val = positions[in_train], positions[~in_train] - n
        missing = sorted(set(range(len(both))) - set(positions.tolist()))
        if missing:
            self._report_bad(both.subset(missing))
        if len(kept_train) < n:
            self.train_index = train.subset(kept_train)
        if len(kept_val) < len(val):
            self.val_index = val.subset(kept_val)

    def _report_bad(self, bad_index) -> None:
        """Records images that did not decode in the feature pass."""
        from imagehub import data

        checked = data.validate(bad_index)
        reasons = dict(checked.skipped)
        for path in bad_index.paths:
            reason = reasons.get(path, "did not decode in the feature pass")
            logger.warning("left out %s: %s", path, reason)
            self.index.skipped.append((path, reason))

    def prepare_data(self) -> None:
        import tensorflow as tf

        config = self.config
        k = len(self.class_names)
        if self.cached:
            self._cache_all_features()
            _check_classes(self.train_index, self.config.image_dir or "")
        labels = np.asarray(self.train_index.labels, np.int64)
        weights = None
        if config.class_weights == "auto":
            weights = _train.class_weights(labels, k)
        to_targets = _one_hot_map(k, weights)
        bs = config.batch_size
        if self.cached:
            feats = self.train_features

            def epoch_dataset(order):
                ds = tf.data.Dataset.from_tensor_slices(
                    (feats[order], labels[order])
                )
                return ds.map(to_targets).batch(bs)

            val_ds = (
                tf.data.Dataset.from_tensor_slices(
                    (self.val_features, np.asarray(self.val_index.labels))
                )
                .map(_one_hot_map(k, None))
                .batch(bs)
            )
        else:
            augment = None
            if config.do_data_augmentation:
                import keras

                augment = keras.Sequential(
                    _train.augmentation_layers(
                        config, self.image_size, self.seed
                    ),
                    name="augmentation",
                )

            def epoch_dataset(order):
                ds = self._images(self.train_index.subset(order))
                if augment is not None:
                    ds = ds.map(
                        lambda x, y: (augment(x, training=True), y),
                        num_parallel_calls=tf.data.AUTOTUNE,
                    )
                return ds.map(to_targets)

            val_ds = self._images(self.val_index).map(_one_hot_map(k, None))
        self.train_data = _train.TrainData(
            num_train=len(self.train_index),
            epoch_dataset=epoch_dataset,
            val_dataset=val_ds,
        )

    # --- training -------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        c = self.config
        return {
            "tfhub_module": c.tfhub_module,
            "image_size": list(self.image_size),
            "resize": c.resize,
            "class_names": self.class_names,
            "num_train": len(self.train_index),
            "num_validation": len(self.val_index),
            "seed": self.seed,
            "cache_features": self.cached,
            "do_fine_tuning": c.do_fine_tuning,
            "batch_size": c.batch_size,
            "optimizer": c.optimizer,
        }

    def train(self) -> dict[str, Any]:
        import keras

        config = self.config
        checkpointer = resume_from = None
        if self.checkpoint_dir:
            checkpointer = Checkpointer(self.checkpoint_dir, self.fingerprint())
            if config.resume:
                try:
                    resume_from = checkpointer.load()
                except CheckpointMismatchError as e:
                    raise RetrainError(str(e)) from e
                if resume_from is None:
                    logger.warning(
                        "--resume: no checkpoint in %s; starting at epoch 1",
                        self.checkpoint_dir,
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
            self.model,
            self.train_data,
            config,
            self.seed,
            saved_variables=self.saved_variables,
            checkpointer=checkpointer,
            resume_from=resume_from,
            callbacks=callbacks,
            progress=self.progress,
        )

    def evaluate(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Validation (logits, labels, paths) of the final model."""
        if self.cached:
            bs = self.config.batch_size
            logits = [
                np.asarray(self.head(self.val_features[i : i + bs]))
                for i in range(0, len(self.val_features), bs)
            ]
            return (
                np.concatenate(logits),
                np.asarray(self.val_index.labels),
                list(self.val_index.paths),
            )
        label_of = dict(
            zip(self.val_index.paths, self.val_index.labels, strict=True)
        )
        chunks, labels, paths = [], [], []
        for images, batch_paths in self._images(self.val_index, True):
            chunks.append(np.asarray(self.classifier(images, training=False)))
            names = [
                p.decode("utf-8", "surrogateescape")
                for p in batch_paths.numpy()
            ]
            paths += names
            labels += [label_of[p] for p in names]
        return np.concatenate(chunks), np.asarray(labels), paths

    # --- outputs --------------------------------------------------------
    def _val_images(self):
        for images, _ in self._images(self.val_index):
            yield images.numpy()

    def _representative(self):
        count = 0
        for images, _ in self._images(self.train_index):
            for image in images.numpy():
                yield image[None]
                count += 1
                if count >= _REPRESENTATIVE_IMAGES:
                    return

    def export(
        self, metrics: dict[str, Any], history, val, outputs: dict[str, str]
    ) -> None:
        """Stages every output in temporary siblings, checks them, then
        moves them all into place."""
        import imagehub

        config = self.config
        staged: list[tuple[str, str]] = []  # (tmp, final)
        scratch = tempfile.mkdtemp(prefix="imagehub-retrain-")
        wanted = [
            config.saved_model_dir,
            config.tflite_output_file,
            config.labels_output_file,
            default_report_dir(config),
        ]
        total = sum(1 for w in wanted if w)
        done = 0
        try:
            saved_model = None
            if config.saved_model_dir or config.tflite_output_file:
                if config.saved_model_dir:
                    tmp = _atomic.temp_sibling(
                        config.saved_model_dir, directory=True
                    )
                    os.rmdir(tmp)
                    staged.append((tmp, config.saved_model_dir))
                else:
                    tmp = os.path.join(scratch, "saved_model")
                imagehub.export_classifier(
                    self.classifier,
                    tmp,
                    labels=list(self.class_names),
                    activation="softmax",
                    image_size=self.image_size,
                    source=f"imagehub retrain on {config.tfhub_module}",
                )
                saved_model = tmp
                if config.saved_model_dir:
                    done += 1
                    report(self.progress, STAGE_EXPORT, done, total)
            if config.tflite_output_file:
                metrics["tflite"] = self._tflite(saved_model, staged)
                done += 1
                report(self.progress, STAGE_EXPORT, done, total)
            if config.labels_output_file:
                tmp = _atomic.temp_sibling(config.labels_output_file)
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write("".join(f"{name}\n" for name in self.class_names))
                staged.append((tmp, config.labels_output_file))
                done += 1
                report(self.progress, STAGE_EXPORT, done, total)
            report_dir = default_report_dir(config)
            if report_dir:
                tmp = _atomic.temp_sibling(report_dir, directory=True)
                staged.append((tmp, report_dir))
                logits, labels, paths = val
                _report.write_report(
                    tmp,
                    metrics=metrics,
                    hparams=self.hparams(),
                    history=history,
                    class_names=self.class_names,
                    val_paths=paths,
                    val_labels=labels,
                    val_predictions=np.argmax(logits, axis=-1),
                    resize=config.resize,
                )
                done += 1
                report(self.progress, STAGE_EXPORT, done, total)
            for tmp, final in staged:
                _atomic.commit(tmp, final)
                outputs[_kind(final, config)] = os.path.abspath(final)
            staged = []
        finally:
            for tmp, _ in staged:
                _atomic.remove(tmp)
            shutil.rmtree(scratch, ignore_errors=True)

    def _tflite(self, saved_model: str, staged) -> dict[str, Any]:
        import tensorflow as tf

        from imagehub.spec import SIGNATURE_FLOAT

        config = self.config
        content = _tflite.convert(
            saved_model,
            config.tflite_quantize,
            representative_images=self._representative,
        )
        loaded = tf.saved_model.load(saved_model)
        serving = loaded.signatures[SIGNATURE_FLOAT]

        def reference(images):
            out = serving(images=tf.constant(images))
            return next(iter(out.values())).numpy()

        rate, count = _tflite.agreement(
            reference, _tflite.TFLiteClassifier(content), self._val_images()
        )
        _tflite.check_agreement(rate, count, config.tflite_quantize)
        tmp = _atomic.temp_sibling(config.tflite_output_file)
        with open(tmp, "wb") as f:
            f.write(content)
        staged.append((tmp, config.tflite_output_file))
        return {
            "quantize": config.tflite_quantize,
            "agreement": rate,
            "count": count,
            "bytes": len(content),
        }

    def hparams(self) -> dict[str, Any]:
        out = self.config.replace(seed=self.seed).to_dict()
        out["resolved"].update(
            {
                "image_dir": self.config.image_dir or DEFAULT_IMAGE_DIR,
                "module_dir": self.module_dir,
                "image_size": list(self.image_size),
                "num_features": self.num_features,
                "class_names": self.class_names,
                "checkpoint_dir": self.checkpoint_dir,
                "report_dir": default_report_dir(self.config),
            }
        )
        return out


def _kind(path: str, config: RetrainConfig) -> str:
    for kind, value in (
        ("saved_model", config.saved_model_dir),
        ("tflite", config.tflite_output_file),
        ("labels", config.labels_output_file),
    ):
        if value and path == value:
            return kind
    return "report"


def make_image_classifier(
    config: RetrainConfig | None = None,
    progress: ProgressFn | None = None,
    **overrides: Any,
) -> RetrainResult:
    """Retrains a classifier on a folder of images, on top of an image
    feature-vector module, and exports it.

    The successor of tensorflow_hub's `make_image_classifier`, on Keras 3:
    same flags and defaults (see `RetrainConfig`), plus feature caching,
    checkpoints and resuming, TFLite quantization and a report.

    Args:
        config: The run's settings; None uses the defaults.
        progress: Receives `ProgressEvent`s (image validation, feature
            caching, each training step, each epoch's end, exports).
        **overrides: Fields of `RetrainConfig` to change, e.g.
            ``image_dir="photos", train_epochs=10``.

    Returns:
        A `RetrainResult` with the model, metrics and output paths.

    Raises:
        RetrainError: The run could not finish (bad images folder,
            module, checkpoint; the loss diverged; the accuracy is below
            `assert_accuracy_at_least`; the float TFLite model disagrees).
            Nothing is exported then.
        ValueError: A setting is out of range.

    Example:
        >>> result = make_image_classifier(
        ...     image_dir="photos", tfhub_module="mobilenet_fv",
        ...     saved_model_dir="out/model", tflite_output_file="out/m.tflite")
        >>> result.val_accuracy
    """
    config = config or RetrainConfig()
    if overrides:
        config = config.replace(**overrides)
    # A seeded run is reproducible: deterministic TensorFlow ops, except
    # when fine-tuning, where the module's own random ops (dropout inside
    # it) may be unseeded, which deterministic mode refuses to run.
    deterministic = config.seed is not None and not config.do_fine_tuning
    if config.seed is not None and config.do_fine_tuning:
        logger.info(
            "--seed with --do_fine_tuning: seeded, but TensorFlow's op "
            "determinism stays off (the module may use unseeded random ops)"
        )
    with _train.deterministic_ops(deterministic):
        return _make_image_classifier(config, progress)


def _make_image_classifier(
    config: RetrainConfig, progress: ProgressFn | None
) -> RetrainResult:
    start = time.perf_counter()
    run = _Run(config, progress)
    run.setup()
    with run.strategy_scope():
        run.build()
    run.prepare_data()
    outcome = run.train()
    logits, labels, paths = run.evaluate()
    val_metrics = _report.classification_metrics(
        labels, np.argmax(logits, axis=-1), run.class_names
    )
    accuracy = val_metrics["accuracy"]
    logger.info("final validation accuracy: %.4f", accuracy)
    if (
        config.assert_accuracy_at_least is not None
        and accuracy < config.assert_accuracy_at_least
    ):
        raise AccuracyError(
            f"ACCURACY FAILED: final validation accuracy {accuracy:.4f} is "
            f"below --assert_accuracy_at_least "
            f"{config.assert_accuracy_at_least}; nothing was exported"
        )
    metrics: dict[str, Any] = {
        "validation": val_metrics,
        "val_accuracy": accuracy,
        "num_train": len(run.train_index),
        "num_skipped": len(run.index.skipped),
        "epochs_run": outcome["epochs_run"],
        "best_epoch": outcome["best_epoch"],
        "stopped_early": outcome["stopped_early"],
        "resumed_from_epoch": outcome["resumed_from"],
        "cache_features": run.cached,
        "history": outcome["history"],
    }
    outputs: dict[str, str] = {}
    run.export(metrics, outcome["history"], (logits, labels, paths), outputs)
    if run.checkpoint_dir:
        outputs["checkpoints"] = os.path.abspath(run.checkpoint_dir)
    metrics["seconds"] = time.perf_counter() - start
    return RetrainResult(
        model=run.classifier,
        labels=tuple(run.class_names),
        image_size=run.image_size,
        val_accuracy=accuracy,
        history=outcome["history"],
        metrics=metrics,
        outputs=outputs,
        config=config.replace(seed=run.seed),
        skipped=list(run.index.skipped),
        seconds=metrics["seconds"],
    )
