"""Multi-label retraining (``--multi_label``): images that may show several
classes at once (the CSV, scores and thresholds: `_multilabel.py`).

The run reads top to bottom like the single-label one::

    read_labels_csv -> prepare -> build -> features -> fit head
    [-> train on images] -> thresholds -> score -> export

The head is the same Dropout -> Dense logits, trained with binary cross-
entropy (one sigmoid per class). On cached features of the frozen module
it is trained by the same recipe as single-label heads (`_recipe.py`:
learning rate and L2 searched with early stopping on the validation
images), without the final refit on the validation images, where the
thresholds are chosen. With ``--do_fine_tuning`` and/or
``--do_data_augmentation`` that head is the warm start; then the whole
classifier (the module trainable when fine-tuning) trains on the images,
augmented if asked, with binary cross-entropy, as single-label fine-tuning
does (`_train.fit`). ``--recipe make_image_classifier`` skips the search
and the warm start.

Each class gets the threshold on its probability that maximizes its F1 on
the validation images, scored by the final model; the exported
SavedModel's card records ``activation: sigmoid`` (SPEC C3) and the
thresholds in class order under ``extra["thresholds"]``. A TFLite model
must predict the same set of classes at those thresholds as the
SavedModel. Scores: mean average precision (mAP, threshold free) and
per-class F1 at the chosen thresholds, both on the validation images (F1
is optimistic there: the thresholds were chosen on them).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from typing import Any

import numpy as np

from imagehub.engines import EngineChoice
from imagehub.retrain._config import RECIPE_IMAGEHUB
from imagehub.retrain._config import ProgressFn
from imagehub.retrain._config import RetrainConfig
from imagehub.retrain._config import default_report_dir
from imagehub.retrain._errors import FlagValueError
from imagehub.retrain._multilabel import CARD_THRESHOLDS
from imagehub.retrain._multilabel import choose_thresholds
from imagehub.retrain._multilabel import f1_scores
from imagehub.retrain._multilabel import mean_average_precision
from imagehub.retrain._multilabel import read_labels_csv
from imagehub.retrain._prepare import Prepared
from imagehub.retrain._prepare import check_outputs
from imagehub.retrain._prepare import resolve_module
from imagehub.retrain._prepare import split_images
from imagehub.retrain._prepare import warn_left_out

logger = logging.getLogger(__name__)


# --- the run -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Part:
    """The images of one side of the split that decode, with their
    targets and cached features (of the frozen module).

    Attributes:
        index: The images (an `imagehub.data.ImageIndex`); its labels are
            row numbers into `targets`.
        targets: float32 [len(index), classes].
        features: float32 [len(index), features].
    """

    index: Any
    targets: np.ndarray
    features: np.ndarray


@dataclasses.dataclass(frozen=True)
class MultiLabelRun:
    """What a multi-label run produced (see `RetrainResult`).

    Attributes:
        thresholds: Per-class probability thresholds, in class order.
        mean_average_precision: mAP on the validation images.
        f1: Per-class F1 at `thresholds` on the validation images.
        subset_accuracy: Fraction of validation images whose whole set of
            classes is predicted exactly.
        tflite: The TFLite model's check, or None without one.
        engine: What ran the module's feature pass, and why.
    """

    prepared: Prepared
    model: Any
    thresholds: tuple[float, ...]
    mean_average_precision: float
    f1: tuple[float, ...]
    subset_accuracy: float
    train_subset_accuracy: float
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    outputs: dict[str, str]
    skipped: tuple[tuple[str, str], ...]
    val_count: int
    epochs_run: int
    recipe: str | None
    tflite: Any = None
    engine: EngineChoice | None = None


def prepare_multi_label(config: RetrainConfig) -> Prepared:
    """Reads the CSV, checks the outputs, seeds and splits the images."""
    import random

    import keras

    from imagehub import data

    if config.resume:
        raise FlagValueError(
            "--resume is not supported with --multi_label: a multi-label "
            "run keeps no checkpoint; run it again without --resume (on "
            "cached features it takes seconds)"
        )
    labelled = read_labels_csv(config.labels_csv or "", config.image_dir)
    missing = [p for p in labelled.paths if not os.path.isfile(p)]
    if missing:
        raise FlagValueError(
            f"--labels_csv names {len(missing)} files that do not exist, "
            f"e.g. {missing[0]!r}; fix the paths (relative ones start "
            "from --image_dir, else from the CSV's folder)"
        )
    module_dir, card = resolve_module(config)
    report_dir = default_report_dir(config)
    check_outputs(config, None, report_dir)
    seed = config.seed
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    keras.utils.set_random_seed(int(seed))
    # Row i of the targets is image i: the index's labels carry the row.
    images = data.ImageIndex(
        paths=list(labelled.paths),
        labels=None,
        class_names=[],
    )
    train, val = split_images(images, config.validation_split, int(seed))
    return Prepared(
        config=config,
        seed=int(seed),
        image_dir=config.image_dir or os.path.dirname(config.labels_csv or ""),
        images=labelled,
        train=train,
        val=val,
        class_names=labelled.class_names,
        skipped=(),
        module_dir=module_dir,
        card=card,
        checkpoint_dir=None,
        report_dir=report_dir,
    )


def _parts(
    prepared: Prepared, model, progress
) -> tuple[Part, Part, list[tuple[str, str]], EngineChoice]:
    """The training and validation images that decode, with targets and
    features, the images left out, and what computed the features: one
    feature pass over both, so the engine is chosen once for the whole
    job (`auto` races on it), as for single-label runs."""
    from imagehub import data
    from imagehub.retrain._features import feature_pass

    train, val = prepared.train, prepared.val
    n = len(train)
    both = data.ImageIndex(
        paths=list(train.paths) + list(val.paths),
        labels=None,
        class_names=[],
        max_pixels=train.max_pixels,
    )
    features, positions, engine = feature_pass(prepared, model, both, progress)
    in_train = positions < n
    train_part, skipped = _part(
        prepared, train, features[in_train], positions[in_train]
    )
    val_part, val_skipped = _part(
        prepared, val, features[~in_train], positions[~in_train] - n
    )
    return train_part, val_part, skipped + val_skipped, engine


def _part(
    prepared: Prepared,
    index,
    features: np.ndarray,
    positions: np.ndarray,
) -> tuple[Part, list[tuple[str, str]]]:
    """The images of `index` that decode (at `positions`, with
    `features`), with their targets."""
    from imagehub import data

    row = {p: i for i, p in enumerate(prepared.images.paths)}
    kept = [index.paths[i] for i in positions]
    skipped = [(p, "does not decode") for p in index.paths if p not in kept]
    for path, reason in skipped:
        warn_left_out(path, reason)
    targets = prepared.images.targets[[row[p] for p in kept]]
    images = data.ImageIndex(
        paths=kept, labels=list(range(len(kept))), class_names=[]
    )
    return Part(images, targets, features), skipped


def _fit_head(
    prepared: Prepared, model, train: Part, val: Part, progress
) -> tuple[dict[str, list[float]], Any]:
    """Trains the head's Dense layer on cached features in NumPy
    (`_recipe.py`). imagehub's recipe searches the learning rate and L2 on
    the validation images (without the refit on them: the thresholds are
    chosen there); before training on images it is the warm start, so the
    image training's --train_epochs and --learning_rate do not apply to
    it. ``--recipe make_image_classifier`` trains the flags' setting as
    is. Returns ``(history, RecipeResult or None)``."""
    from imagehub.retrain._model import LOGITS_NAME
    from imagehub.retrain._recipe import run_recipe
    from imagehub.retrain._recipe import train_head

    config = prepared.config
    k = len(prepared.class_names)
    if config.recipe == RECIPE_IMAGEHUB:
        if not config.use_feature_cache:
            config = config.replace(train_epochs=None, learning_rate=None)
        result = run_recipe(
            (train.features, train.targets),
            (val.features, val.targets),
            num_classes=k,
            config=config,
            seed=prepared.seed,
            refit=False,
            progress=progress,
        )
        head, history = result.final, result.history
    else:
        head, _, history = train_head(
            train.features,
            train.targets,
            num_classes=k,
            config=config,
            learning_rate=config.resolved_learning_rate,
            l2=config.resolved_l2_regularizer,
            epochs=config.resolved_train_epochs,
            seed=prepared.seed,
            val=(val.features, val.targets),
            patience=config.early_stopping_patience,
        )
        result = None
    model.head.get_layer(LOGITS_NAME).set_weights([head.kernel, head.bias])
    return history, result


def _subset_accuracy(y_true, logits):
    """Keras metric: 1 for an image whose whole set of classes is right
    (sigmoid >= 0.5, i.e. logit >= 0)."""
    from keras import ops

    right = ops.equal(ops.greater_equal(logits, 0.0), y_true > 0.5)
    return ops.cast(ops.all(right, axis=-1), "float32")


def _train_on_images(
    prepared: Prepared, model, train: Part, val: Part, warm, progress
):
    """``--do_fine_tuning`` and/or ``--do_data_augmentation``: the
    classifier (the module trainable when fine-tuning) trained on the
    images, augmented if asked, with binary cross-entropy, by
    `_train.fit` (early stopping, TensorBoard logs). After a warm start
    the learning rate is the head's chosen one / 10 unless
    --learning_rate was given. Returns the `FitResult`."""
    import keras
    import tensorflow as tf

    from imagehub.data import dataset_options
    from imagehub.retrain._features import TrainData
    from imagehub.retrain._features import images
    from imagehub.retrain._fit import fit
    from imagehub.retrain._model import augmentation_layers
    from imagehub.retrain._model import make_optimizer
    from imagehub.retrain._summaries import summary_callback

    config = prepared.config
    rate = config.image_learning_rate(
        None if warm is None else warm.chosen.learning_rate
    )
    model.classifier.compile(
        optimizer=make_optimizer(config.replace(learning_rate=rate)),
        loss=keras.losses.BinaryCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing
        ),
        metrics=[keras.metrics.MeanMetricWrapper(_subset_accuracy, "accuracy")],
        jit_compile=False,
    )
    augment = None
    if config.do_data_augmentation:
        augment = keras.Sequential(
            augmentation_layers(config, model.image_size, prepared.seed),
            name="augmentation",
        )

    def batches(part: Part, index, augmented: bool):
        table = tf.constant(part.targets)

        def to_targets(x, row):
            if augmented and augment is not None:
                x = augment(x, training=True)
            return x, tf.gather(table, row)

        ds = images(prepared, model, index)
        return ds.map(to_targets).with_options(dataset_options())

    data = TrainData(
        num_train=len(train.index),
        epoch_dataset=lambda order: batches(
            train, train.index.subset(order), True
        ),
        val_dataset=batches(val, val.index, False),
    )
    callbacks = [summary_callback(config)] if config.summaries_dir else []
    logger.info(
        "training on the images (%s) at learning rate %g",
        "module fine-tuned" if config.do_fine_tuning else "module frozen",
        rate,
    )
    return fit(
        model.classifier,
        data,
        config,
        prepared.seed,
        saved_variables=list(model.saved_variables),
        callbacks=callbacks,
        progress=progress,
    )


def _probabilities(prepared: Prepared, model, part: Part) -> np.ndarray:
    """Sigmoid scores of `part`'s images: from the cached features when
    the module stayed as it was, else through the trained classifier."""
    from imagehub.retrain._features import images

    if prepared.config.use_feature_cache:
        logits = model.head.predict(part.features, verbose=0)
    else:
        logits = np.concatenate(
            [
                np.asarray(model.classifier(x, training=False))
                for x, _ in images(prepared, model, part.index)
            ]
        )
    return _sigmoid(np.asarray(logits, np.float64))


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def train_multi_label(
    config: RetrainConfig, progress: ProgressFn | None
) -> MultiLabelRun:
    """The whole multi-label run; see the module docstring.

    Raises:
        FlagValueError: A bad --labels_csv or module, or --resume.
        RetrainError: Too few images, or the loss diverged.
        TFLiteMismatchError: The float TFLite model disagrees.
    """
    from imagehub.retrain._model import build
    from imagehub.retrain._summaries import write_history

    prepared = prepare_multi_label(config)
    model = build(prepared)
    train, val, skipped, engine = _parts(prepared, model, progress)
    history, recipe = _fit_head(prepared, model, train, val, progress)
    epochs_run = len(history["loss"])
    warm_start = None
    if config.use_feature_cache:
        rate = config.resolved_learning_rate
        if recipe is not None:
            rate = recipe.chosen.learning_rate
        write_history(config.summaries_dir, history, rate)
    else:
        warm_start = recipe
        fit = _train_on_images(prepared, model, train, val, recipe, progress)
        history, epochs_run = fit.history, fit.epochs_run
    val_probs = _probabilities(prepared, model, val)
    thresholds = choose_thresholds(val_probs, val.targets)
    f1 = f1_scores(val_probs, val.targets, thresholds)
    m_ap = mean_average_precision(val_probs, val.targets)

    def subset_accuracy(probs, targets) -> float:
        exact = ((probs >= thresholds) == (targets > 0.5)).all(axis=1)
        return float(exact.mean())

    accuracy = subset_accuracy(val_probs, val.targets)
    train_accuracy = subset_accuracy(
        _probabilities(prepared, model, train), train.targets
    )
    names = prepared.class_names
    described = None if recipe is None else recipe.describe()
    metrics = {
        "multi_label": True,
        "mean_average_precision": m_ap,
        "per_class_f1": dict(zip(names, map(float, f1), strict=True)),
        "thresholds": dict(zip(names, map(float, thresholds), strict=True)),
        "subset_accuracy": accuracy,
        "train_subset_accuracy": train_accuracy,
        "val_count": len(val.targets),
        "train_count": len(train.targets),
        "epochs_run": epochs_run,
        "recipe": None if warm_start is not None else described,
        "seed": prepared.seed,
        "do_fine_tuning": config.do_fine_tuning,
        "do_data_augmentation": config.do_data_augmentation,
    }
    if warm_start is not None:
        metrics["warm_start"] = warm_start.to_dict()
    outputs, tflite = _export(
        prepared, model, train, val, thresholds, metrics, progress
    )
    if described is not None and warm_start is not None:
        described = f"warm start: {described}; then trained on the images"
    return MultiLabelRun(
        prepared=prepared,
        model=model,
        thresholds=tuple(float(t) for t in thresholds),
        mean_average_precision=m_ap,
        f1=tuple(float(v) for v in f1),
        subset_accuracy=accuracy,
        train_subset_accuracy=train_accuracy,
        history=history,
        metrics=metrics,
        outputs=outputs,
        skipped=tuple(skipped),
        val_count=len(val.targets),
        epochs_run=epochs_run,
        recipe=described,
        tflite=tflite,
        engine=engine,
    )


def _tflite(
    prepared: Prepared,
    model,
    train: Part,
    val: Part,
    thresholds: np.ndarray,
    saved_model: str,
):
    """Converts the staged SavedModel; the TFLite model must predict the
    same set of classes (at the card's thresholds) for the validation
    images as the SavedModel (see `_export.check_tflite`)."""
    from imagehub.retrain._export import check_tflite
    from imagehub.retrain._features import images

    # sigmoid(logit) >= t  <=>  logit >= log(t / (1 - t))
    cut = np.log(thresholds / (1.0 - thresholds))

    def representative():
        for batch, _ in images(prepared, model, train.index):
            yield from (image[None] for image in batch.numpy())

    def validation():
        for batch, _ in images(prepared, model, val.index):
            yield batch.numpy()

    return check_tflite(
        saved_model,
        prepared.config.tflite_quantize,
        representative_images=lambda: itertools.islice(representative(), 100),
        validation_images=validation,
        decide=lambda logits: logits >= cut,
        compared="label-set",
    )


def _export(
    prepared: Prepared,
    model,
    train: Part,
    val: Part,
    thresholds: np.ndarray,
    metrics: dict[str, Any],
    progress: ProgressFn | None,
):
    """Stages the SavedModel, TFLite model, labels file and report, then
    moves them all into place (nothing half-written on failure). Returns
    ``(outputs written, TFLiteCheck or None)``."""
    import json

    from imagehub import outputs
    from imagehub.retrain._export import commit_staged
    from imagehub.retrain._export import export_progress
    from imagehub.retrain._export import stage_models
    from imagehub.retrain._export import staging

    config = prepared.config
    written = export_progress(prepared, progress)
    extra = {CARD_THRESHOLDS: [float(t) for t in thresholds]}

    def convert(path: str):
        return _tflite(prepared, model, train, val, thresholds, path)

    with staging() as (staged, scratch):
        tflite = stage_models(
            prepared, model, staged, scratch, written, convert, extra
        )
        if tflite is not None:
            metrics["tflite"] = tflite.to_dict()
        if prepared.report_dir:
            tmp = outputs.temp_sibling(prepared.report_dir, directory=True)
            os.makedirs(tmp, exist_ok=True)
            staged.append((tmp, prepared.report_dir))
            for name, document in (
                ("metrics.json", metrics),
                ("hparams.json", config.to_dict()),
            ):
                with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                    json.dump(document, f, indent=2)
            written()
        done = commit_staged(staged, config)
    return done, tflite
