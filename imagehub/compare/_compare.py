"""`compare`: which model for these images, measured on these images.

A comparison reads top to bottom::

    scan the folder (at most N images per class)
    for each model: its features, via retrain's stages and cache
    the folds: a function of the labels and the seed, for every model
    for each model: linear probe and kNN on the folds; features/s
    rank by probe accuracy; paired bootstrap intervals; Pareto front
    write compare.json and report.html (when `out` is given)

A model that cannot be loaded or scored is reported with its error and
the others go on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import time
from typing import Any

import numpy as np

from imagehub.compare._config import DEFAULTS
from imagehub.compare._config import STAGE_DONE
from imagehub.compare._config import STAGE_FAILED
from imagehub.compare._config import STAGE_FEATURES
from imagehub.compare._config import STAGE_LOAD
from imagehub.compare._config import STAGE_PROBE
from imagehub.compare._config import STAGE_SPEED
from imagehub.compare._config import CompareError
from imagehub.compare._config import CompareEvent
from imagehub.compare._config import ProgressFn
from imagehub.compare._features import ModelFeatures
from imagehub.compare._features import measure_speed
from imagehub.compare._features import model_features
from imagehub.compare._features import sample_images
from imagehub.compare._probe import FoldScores
from imagehub.compare._probe import knn_scores
from imagehub.compare._probe import probe_scores
from imagehub.compare._stats import PairedDifference
from imagehub.compare._stats import paired_bootstrap
from imagehub.compare._stats import pareto_front
from imagehub.compare._stats import per_class_accuracy
from imagehub.compare._stats import stratified_folds

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ModelScore:
    """One row of the comparison.

    Attributes:
        handle: The model as given.
        error: Why the model could not be scored, or None.
        probe: Linear-probe out-of-fold predictions and fold accuracies.
        knn: kNN out-of-fold predictions, fold accuracies and k per fold.
        probe_accuracy: Linear-probe accuracy over all images.
        knn_accuracy: kNN accuracy over all images.
        per_class: Linear-probe accuracy of each class.
        speeds: Engine -> features per second.
        engine: The engine of `features_per_second`.
        features_per_second: The requested engine's speed (TensorFlow's
            when that engine could not run the model).
        size_bytes: SavedModel size on disk.
        num_features: Feature width.
        image_size: (height, width) of the input.
        license: From the model card, or "".
        module_dir: The resolved SavedModel folder.
        checkpoint_dir: retrain's checkpoint folder holding the features.
        computed: Whether the features were computed (else cached).
        tied_with_best: The paired interval against the best model
            includes 0 (True for the best itself).
        vs_best: Best minus this model, or None for the best.
        on_front: On the accuracy-vs-speed Pareto front.
    """

    handle: str
    error: str | None = None
    probe: FoldScores | None = None
    knn: FoldScores | None = None
    probe_accuracy: float = float("nan")
    knn_accuracy: float = float("nan")
    per_class: tuple[float, ...] = ()
    speeds: dict[str, float] = dataclasses.field(default_factory=dict)
    engine: str = ""
    features_per_second: float = float("nan")
    size_bytes: int = 0
    num_features: int = 0
    image_size: tuple[int, int] = (0, 0)
    license: str = ""
    module_dir: str = ""
    checkpoint_dir: str | None = None
    computed: bool = False
    tied_with_best: bool = False
    vs_best: PairedDifference | None = None
    on_front: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.handle, "error": self.error}
        if not self.ok:
            return out
        assert self.probe is not None and self.knn is not None  # noqa: S101
        out.update(
            {
                "linear_probe": {
                    "accuracy": self.probe_accuracy,
                    "fold_mean": self.probe.mean,
                    "fold_std": self.probe.spread,
                    "fold_accuracies": list(self.probe.fold_accuracies),
                },
                "knn": {
                    "accuracy": self.knn_accuracy,
                    "fold_mean": self.knn.mean,
                    "fold_std": self.knn.spread,
                    "fold_accuracies": list(self.knn.fold_accuracies),
                    "k_per_fold": list(self.knn.ks),
                },
                "per_class_accuracy": list(self.per_class),
                "features_per_second": self.features_per_second,
                "engine": self.engine,
                "features_per_second_by_engine": dict(self.speeds),
                "size_bytes": self.size_bytes,
                "num_features": self.num_features,
                "image_size": list(self.image_size),
                "license": self.license,
                "module_dir": self.module_dir,
                "checkpoint_dir": self.checkpoint_dir,
                "features_computed": self.computed,
                "tied_with_best": self.tied_with_best,
                "vs_best": None
                if self.vs_best is None
                else self.vs_best.to_dict(),
                "pareto_front": self.on_front,
            }
        )
        return out


@dataclasses.dataclass(frozen=True)
class CompareResult:
    """What `compare` measured.

    Attributes:
        image_dir: The images folder.
        class_names: Class names, in label order.
        labels: The label of each compared image.
        paths: The compared images.
        folds: The fold of each image (the same for every model).
        seed: The seed of folds, heads and bootstrap.
        scores: Scored models best first, then the failed ones.
        pairs: ``(a, b)`` -> accuracy(a) - accuracy(b) with its interval,
            for every ordered pair of scored models.
        winner: The best model's handle, or None if none was scored.
        retrain_command: The command that retrains on the winner, or None.
        reuses_cache: Whether that command reads the features compare
            cached (not when only some images per class were compared).
        outputs: Kind (``json``, ``report``, ``plot``) -> path written.
        seconds: Wall time.
    """

    image_dir: str
    class_names: tuple[str, ...]
    labels: np.ndarray
    paths: tuple[str, ...]
    folds: np.ndarray
    seed: int
    scores: tuple[ModelScore, ...]
    pairs: dict[tuple[str, str], PairedDifference]
    winner: str | None
    retrain_command: str | None
    reuses_cache: bool
    outputs: dict[str, str]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_dir": self.image_dir,
            "class_names": list(self.class_names),
            "num_images": len(self.paths),
            "num_folds": int(self.folds.max()) + 1 if len(self.folds) else 0,
            "seed": self.seed,
            "folds": [int(f) for f in self.folds],
            "models": [s.to_dict() for s in self.scores],
            "pairs": [
                {"a": a, "b": b, **d.to_dict()}
                for (a, b), d in self.pairs.items()
            ],
            "winner": self.winner,
            "retrain_command": self.retrain_command,
            "retrain_reuses_cache": self.reuses_cache,
            "seconds": self.seconds,
        }


def select_images(index: Any, max_per_class: int | None) -> Any:
    """At most `max_per_class` images of each class (the first in the
    folder's stable order), or `index` itself."""
    if max_per_class is None:
        return index
    if max_per_class < 1:
        raise ValueError(
            f"max_images_per_class={max_per_class!r}; expected an integer "
            ">= 1 or None"
        )
    labels = np.asarray(index.labels, np.int64)
    keep = np.concatenate(
        [np.flatnonzero(labels == c)[:max_per_class] for c in np.unique(labels)]
    )
    return index.subset(np.sort(keep))


def _scan(image_dir: str, max_per_class: int | None) -> Any:
    from imagehub import data

    try:
        index = data.scan(image_dir)
    except FileNotFoundError as e:
        raise CompareError(f"--image_dir: {e}") from e
    if not index.labelled or len(index.class_names) < 2:
        raise CompareError(
            f"--image_dir {image_dir!r} must hold one subfolder of images "
            f"per class, and at least two classes; found "
            f"{len(index.class_names)} class folders"
        )
    return select_images(index, max_per_class)


def retrain_command(
    image_dir: str, best: ModelScore, seed: int, resize: str
) -> str:
    """`imagehub retrain` on the winner with the seed and checkpoint
    folder that make it read the features compare cached."""
    stem = os.path.basename(best.handle.rstrip("/\\")) or "model"
    args = [
        "imagehub",
        "retrain",
        "--image_dir",
        image_dir,
        "--tfhub_module",
        best.handle,
        "--seed",
        str(seed),
    ]
    if resize != "stretch":
        args += ["--resize", resize]
    if best.checkpoint_dir:
        args += ["--checkpoint_dir", best.checkpoint_dir]
    args += ["--saved_model_dir", f"{stem}_retrained"]
    return shlex.join(args)


def _rank(
    scores: list[ModelScore],
    labels: np.ndarray,
    seed: int,
    resamples: int,
    level: float,
) -> tuple[list[ModelScore], dict[tuple[str, str], PairedDifference]]:
    """Scored models best first (probe accuracy, then kNN, then speed),
    with ties against the best and the Pareto front marked; every
    ordered pair's paired interval."""
    ok = [s for s in scores if s.ok]
    ok.sort(
        key=lambda s: (
            -s.probe_accuracy,
            -s.knn_accuracy,
            -s.features_per_second,
        )
    )
    pairs: dict[tuple[str, str], PairedDifference] = {}
    for a in ok:
        for b in ok:
            if a is not b:
                pairs[(a.handle, b.handle)] = paired_bootstrap(
                    a.probe.correct(labels),  # type: ignore[union-attr]
                    b.probe.correct(labels),  # type: ignore[union-attr]
                    seed=seed,
                    resamples=resamples,
                    level=level,
                )
    front = pareto_front(
        [s.probe_accuracy for s in ok], [s.features_per_second for s in ok]
    )
    ranked = []
    for i, s in enumerate(ok):
        vs_best = None if i == 0 else pairs[(ok[0].handle, s.handle)]
        ranked.append(
            dataclasses.replace(
                s,
                vs_best=vs_best,
                tied_with_best=vs_best is None or not vs_best.distinguishable,
                on_front=front[i],
            )
        )
    return ranked + [s for s in scores if not s.ok], pairs


def _score(
    found: ModelFeatures,
    index: Any,
    folds: np.ndarray,
    *,
    engine: str,
    speed_images: int,
    batch_size: int,
    resize: str,
    report: Any,
) -> ModelScore:
    labels = np.asarray(index.labels, np.int64)
    num_classes = len(index.class_names)
    k = int(folds.max()) + 1
    features = found.features
    report(STAGE_PROBE, 0, k)
    probe = probe_scores(
        found.prepared,
        found.model,
        index,
        features,
        folds,
        on_fold=lambda done: report(STAGE_PROBE, done, k),
    )
    knn = knn_scores(features, labels, folds, num_classes)
    report(STAGE_SPEED, 0, 0)
    images = sample_images(index, found.image_size, speed_images, resize)
    speeds = measure_speed(found, images, engine, batch_size, len(index))
    used = engine if engine in speeds else "tensorflow"
    if engine == "auto":
        used = next((e for e in speeds if e != "tensorflow"), "tensorflow")
    return ModelScore(
        handle=found.handle,
        probe=probe,
        knn=knn,
        probe_accuracy=float(np.mean(probe.correct(labels))),
        knn_accuracy=float(np.mean(knn.correct(labels))),
        per_class=tuple(
            per_class_accuracy(labels, probe.predictions, num_classes)
        ),
        speeds=speeds,
        engine=used,
        features_per_second=speeds[used],
        size_bytes=found.size_bytes,
        num_features=found.num_features,
        image_size=found.image_size,
        license=found.license,
        module_dir=found.module_dir,
        checkpoint_dir=found.checkpoint_dir,
        computed=found.computed,
    )


def _failure(handle: str, error: BaseException) -> ModelScore:
    message = str(error).strip() or type(error).__name__
    logger.warning("%s was not compared: %s", handle, message)
    logger.debug("%s failed", handle, exc_info=error)
    return ModelScore(handle=handle, error=message)


def compare(
    image_dir: str | os.PathLike[str],
    models: list[str],
    *,
    out: str | os.PathLike[str] | None = None,
    engine: str = DEFAULTS.engine,
    folds: int = DEFAULTS.folds,
    seed: int = DEFAULTS.seed,
    max_images_per_class: int | None = DEFAULTS.max_images_per_class,
    cache_dir: str | os.PathLike[str] | None = None,
    batch_size: int = DEFAULTS.batch_size,
    resize: str = DEFAULTS.resize,
    speed_images: int = DEFAULTS.speed_images,
    resamples: int = DEFAULTS.resamples,
    level: float = DEFAULTS.level,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> CompareResult:
    """Compares image feature-vector models on a folder of labelled images.

    Every model's features are computed once (and cached where `retrain`
    finds them), then scored on the same stratified folds by a linear
    probe trained with retrain's head recipe and by cosine kNN. Paired
    bootstrap intervals of the probe accuracies say which differences
    the data can resolve.

    Args:
        image_dir: A folder with one subfolder of images per class.
        models: Handles of feature-vector SavedModels (folders, URLs,
            hub handles).
        out: Folder for compare.json, report.html and the plot (written
            once complete); None writes nothing.
        engine: Engine whose features per second are reported
            (`imagehub.engines.ENGINE_CHOICES`).
        folds: Number of cross-validation folds.
        seed: Seed of folds, heads and bootstrap (and of retrain's split,
            which the cached features are keyed on).
        max_images_per_class: At most this many images per class.
        cache_dir: Folder of the per-model feature caches (retrain
            checkpoint folders); default ``<out>_cache`` with `out`, else
            no caching.
        batch_size: Images per batch.
        resize: ``stretch``, ``crop`` or ``pad``.
        speed_images: Images timed per model.
        resamples: Bootstrap resamples.
        level: Confidence level of the intervals.
        overwrite: Replace an existing `out`.
        progress: Receives a `CompareEvent` per step of each model.

    Returns:
        A `CompareResult`, models best first.

    Raises:
        CompareError: The folder is unusable or no model was given.
        ValueError: A setting is out of range.
        OutputExistsError: `out` exists and `overwrite` is not set.

    Example:
        >>> result = imagehub.compare(
        ...     "photos", ["mnv1_fv", "mnv3_fv"], out="compare_out")
        >>> result.winner, result.retrain_command
    """
    from imagehub import engines
    from imagehub import outputs
    from imagehub import retrain

    start = time.perf_counter()
    models = list(models)
    if not models:
        raise CompareError("no model to compare; pass --model at least once")
    if engine not in engines.ENGINE_CHOICES:
        raise ValueError(
            f"Unknown engine {engine!r}; expected one of "
            f"{engines.ENGINE_CHOICES}"
        )
    if out is not None:
        outputs.check_target(out, overwrite)
    image_dir = os.fspath(image_dir)
    if cache_dir is None and out is not None:
        cache_dir = f"{os.fspath(out).rstrip('/')}_cache"
    index = _scan(image_dir, max_images_per_class)
    subset = max_images_per_class is not None

    def reporter(position: int):
        def report(stage: str, done: int = 0, total: int = 0, msg=""):
            if progress is not None:
                progress(
                    CompareEvent(
                        models[position],
                        position,
                        len(models),
                        stage,
                        done,
                        total,
                        msg,
                    )
                )

        return report

    with retrain.deterministic_ops(True):
        found: list[ModelFeatures | ModelScore] = []
        for i, handle in enumerate(models):
            report = reporter(i)
            report(STAGE_LOAD)
            try:
                found.append(
                    model_features(
                        handle,
                        image_dir,
                        index,
                        seed=seed,
                        cache_root=None
                        if cache_dir is None
                        else os.fspath(cache_dir),
                        batch_size=batch_size,
                        resize=resize,
                        subset=subset,
                        progress=lambda e, r=report: r(
                            STAGE_FEATURES, e.done, e.total
                        ),
                    )
                )
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                found.append(_failure(handle, e))
                report(STAGE_FAILED, msg=str(e))
        loaded = [f for f in found if isinstance(f, ModelFeatures)]
        # Images that did not decode drop out for every model, so that
        # every model is scored on the same images and folds.
        common = np.ones(len(index), bool)
        for f in loaded:
            common &= f.present
        keep = np.flatnonzero(common)
        if len(keep) < len(index):
            index = index.subset(keep)
            loaded = [
                dataclasses.replace(
                    f, features=f.features[keep], present=f.present[keep]
                )
                for f in loaded
            ]
            by_handle = {f.handle: f for f in loaded}
            found = [
                by_handle.get(f.handle, f)
                if isinstance(f, ModelFeatures)
                else f
                for f in found
            ]
        labels = np.asarray(index.labels, np.int64)
        try:
            fold_of = stratified_folds(labels, folds, seed)
        except ValueError as e:
            raise CompareError(str(e)) from e
        scores = []
        for i, f in enumerate(found):
            if isinstance(f, ModelScore):
                scores.append(f)
                continue
            report = reporter(i)
            try:
                scores.append(
                    _score(
                        f,
                        index,
                        fold_of,
                        engine=engine,
                        speed_images=speed_images,
                        batch_size=batch_size,
                        resize=resize,
                        report=report,
                    )
                )
                report(STAGE_DONE)
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                scores.append(_failure(f.handle, e))
                report(STAGE_FAILED, msg=str(e))
    ranked, pairs = _rank(scores, labels, seed, resamples, level)
    best = ranked[0] if ranked and ranked[0].ok else None
    result = CompareResult(
        image_dir=image_dir,
        class_names=tuple(index.class_names),
        labels=labels,
        paths=tuple(index.paths),
        folds=fold_of,
        seed=seed,
        scores=tuple(ranked),
        pairs=pairs,
        winner=None if best is None else best.handle,
        retrain_command=None
        if best is None
        else retrain_command(image_dir, best, seed, resize),
        reuses_cache=best is not None
        and best.checkpoint_dir is not None
        and not subset,
        outputs={},
        seconds=time.perf_counter() - start,
    )
    if out is not None:
        from imagehub.compare._report import write_outputs

        written = write_outputs(result, os.fspath(out), overwrite=overwrite)
        result = dataclasses.replace(result, outputs=written)
    return result
