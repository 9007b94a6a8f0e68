"""The statistics of a comparison, in numpy alone (no scikit-learn):
stratified folds, cosine k-nearest-neighbour accuracy with k chosen on
the training part, and a paired bootstrap interval of the difference
between two models' accuracies.

Every model is scored on the same folds and its out-of-fold predictions
cover every image once, so two models' per-image correctness can be
compared image by image (paired): the interval of their accuracy
difference is much narrower than that of two independent accuracies.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Candidate k of the nearest-neighbour classifier, picked per fold by
# leave-one-out accuracy on the fold's training part.
KNN_CANDIDATES = (1, 3, 5, 7, 9, 15, 21)


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The fold (0..k-1) of each image: each class's images are shuffled
    with `seed` and dealt round-robin, so every fold holds about 1/k of
    every class. A function of the labels and the seed alone, so every
    model gets the same folds.

    Raises:
        ValueError: `k` < 2, or a class has fewer than `k` images.
    """
    labels = np.asarray(labels, np.int64)
    if k < 2:
        raise ValueError(f"folds={k!r}; expected an integer >= 2")
    counts = np.bincount(labels)
    small = [c for c in np.flatnonzero(counts) if counts[c] < k]
    if small:
        raise ValueError(
            f"folds={k}: class {int(small[0])} has only "
            f"{int(counts[small[0]])} images; every class needs at least "
            "as many images as folds (lower --folds or add images)"
        )
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), np.int64)
    # A running offset spreads the classes' remainders over the folds.
    offset = 0
    for c in np.flatnonzero(counts):
        members = rng.permutation(np.flatnonzero(labels == c))
        fold[members] = (np.arange(len(members)) + offset) % k
        offset += len(members)
    return fold


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    unit: np.ndarray = x / np.maximum(norm, 1e-12)
    return unit


def _votes(
    neighbours: np.ndarray,
    similarity: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    k: int,
) -> np.ndarray:
    """Predicted classes by majority of the first `k` neighbours; ties go
    to the class with the larger summed similarity."""
    idx = neighbours[:, :k]
    sims = np.take_along_axis(similarity, idx, axis=1)
    votes = np.zeros((len(idx), num_classes))
    rows = np.repeat(np.arange(len(idx)), k)
    np.add.at(votes, (rows, labels[idx].ravel()), 1.0)
    # Similarities are in [-1, 1]; scaled below 1/k they only break ties.
    np.add.at(
        votes, (rows, labels[idx].ravel()), (sims.ravel() + 1.0) / (4.0 * k)
    )
    predicted: np.ndarray = votes.argmax(axis=1)
    return predicted


def choose_k(features: np.ndarray, labels: np.ndarray, num_classes: int) -> int:
    """The k of `KNN_CANDIDATES` with the best leave-one-out accuracy on
    these (training) images; the smaller k on a tie."""
    x = _unit(features)
    labels = np.asarray(labels, np.int64)
    similarity = x @ x.T
    np.fill_diagonal(similarity, -np.inf)
    candidates = [k for k in KNN_CANDIDATES if k < len(labels)] or [1]
    top = max(candidates)
    neighbours = np.argsort(-similarity, axis=1, kind="stable")[:, :top]
    best_k, best = candidates[0], -1.0
    for k in candidates:
        accuracy = float(
            np.mean(
                _votes(neighbours, similarity, labels, num_classes, k) == labels
            )
        )
        if accuracy > best:
            best_k, best = k, accuracy
    return best_k


def knn_predict(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    num_classes: int,
    k: int,
) -> np.ndarray:
    """Cosine k-nearest-neighbour predictions for `test_features`."""
    train_labels = np.asarray(train_labels, np.int64)
    similarity = _unit(test_features) @ _unit(train_features).T
    k = min(k, len(train_labels))
    neighbours = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return _votes(neighbours, similarity, train_labels, num_classes, k)


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """Model A's accuracy minus model B's on the same images.

    Attributes:
        difference: The observed difference of out-of-fold accuracies.
        low: Lower end of the bootstrap interval.
        high: Upper end.
        level: The interval's confidence level (e.g. 0.95).
    """

    difference: float
    low: float
    high: float
    level: float

    @property
    def distinguishable(self) -> bool:
        """Whether the interval excludes 0: the data tell A and B apart."""
        return self.low > 0.0 or self.high < 0.0

    def to_dict(self) -> dict[str, float | bool]:
        return {
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "distinguishable": self.distinguishable,
        }


def paired_bootstrap(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    *,
    seed: int,
    resamples: int = 2000,
    level: float = 0.95,
) -> PairedDifference:
    """A percentile bootstrap interval of accuracy(A) - accuracy(B),
    resampling images (the same images for both models).

    Args:
        correct_a: Per-image correctness (bool) of model A.
        correct_b: Per-image correctness of model B, on the same images.
        seed: Seed of the resampling.
        resamples: Number of bootstrap resamples.
        level: Confidence level of the interval.
    """
    a = np.asarray(correct_a, np.float64)
    b = np.asarray(correct_b, np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"paired correctness of different lengths: {a.shape} vs {b.shape}"
        )
    diff = a - b
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[picks].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return PairedDifference(
        difference=float(diff.mean()),
        low=float(low),
        high=float(high),
        level=level,
    )


def per_class_accuracy(
    labels: np.ndarray, predictions: np.ndarray, num_classes: int
) -> list[float]:
    """The share of each class's images predicted right (its recall)."""
    labels = np.asarray(labels, np.int64)
    right = np.asarray(predictions) == labels
    counts = np.bincount(labels, minlength=num_classes)
    hits = np.bincount(labels[right], minlength=num_classes)
    return [
        float(h / c) if c else float("nan")
        for h, c in zip(hits, counts, strict=True)
    ]


def pareto_front(accuracy: list[float], speed: list[float]) -> list[bool]:
    """Whether each point is on the accuracy-vs-speed Pareto front: no
    other point is at least as accurate and as fast, and better in one."""
    front = []
    for i, (a, s) in enumerate(zip(accuracy, speed, strict=True)):
        dominated = any(
            (a2 >= a and s2 >= s and (a2 > a or s2 > s))
            for j, (a2, s2) in enumerate(zip(accuracy, speed, strict=True))
            if j != i
        )
        front.append(not dominated)
    return front
