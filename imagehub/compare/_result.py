"""The values a comparison returns: one `ModelScore` per model and the
`CompareResult` holding them, best first, with the folds and every paired
interval; both turn into compare.json's objects (`to_dict`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from imagehub.compare._probe import FoldScores
from imagehub.compare._stats import PairedDifference


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
