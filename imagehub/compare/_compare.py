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
from typing import Protocol

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
from imagehub.compare._probe import knn_scores
from imagehub.compare._probe import probe_scores
from imagehub.compare._result import CompareResult
from imagehub.compare._result import ModelScore
from imagehub.compare._stats import PairedDifference
from imagehub.compare._stats import paired_bootstrap
from imagehub.compare._stats import pareto_front
from imagehub.compare._stats import per_class_accuracy
from imagehub.compare._stats import stratified_folds

logger = logging.getLogger(__name__)


class _Report(Protocol):
    """Reports one model's stage to the caller's progress callback."""

    def __call__(
        self, stage: str, done: int = 0, total: int = 0, msg: str = ""
    ) -> None: ...


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
        index = data.scan_classes(image_dir)
    except (FileNotFoundError, ValueError) as e:
        raise CompareError(f"--image_dir: {e}") from e
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
    report: _Report,
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


def _common_images(
    index: Any, found: list[ModelFeatures | ModelScore]
) -> tuple[Any, list[ModelFeatures | ModelScore]]:
    """The images every loaded model has features of, and the models'
    features of those: an image that did not decode drops out for every
    model, so that all are scored on the same images and folds."""
    common = np.ones(len(index), bool)
    for f in found:
        if isinstance(f, ModelFeatures):
            common &= f.present
    keep = np.flatnonzero(common)
    if len(keep) == len(index):
        return index, found
    return index.subset(keep), [
        dataclasses.replace(
            f, features=f.features[keep], present=f.present[keep]
        )
        if isinstance(f, ModelFeatures)
        else f
        for f in found
    ]


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

    def reporter(position: int) -> _Report:
        def report(
            stage: str, done: int = 0, total: int = 0, msg: str = ""
        ) -> None:
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
        index, found = _common_images(index, found)
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
