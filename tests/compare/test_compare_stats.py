"""The statistics on hand-made numbers: folds, kNN, the paired
bootstrap, per-class accuracy and the Pareto front."""

import numpy as np
import pytest

from imagehub.compare import _stats
from imagehub.compare import paired_bootstrap
from imagehub.compare import stratified_folds


def test_folds_are_stratified_when_classes_are_unequal():
    labels = np.array([0] * 23 + [1] * 11 + [2] * 6)
    folds = stratified_folds(labels, 5, seed=1)
    for c, n in ((0, 23), (1, 11), (2, 6)):
        counts = np.bincount(folds[labels == c], minlength=5)
        assert counts.max() - counts.min() <= 1, (c, counts)
        assert counts.sum() == n
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= 1, sizes


def test_folds_depend_only_on_labels_and_seed_when_called_again():
    labels = np.repeat(np.arange(3), 10)
    first = stratified_folds(labels, 4, seed=7)
    assert np.array_equal(first, stratified_folds(labels, 4, seed=7))
    assert not np.array_equal(first, stratified_folds(labels, 4, seed=8))


def test_folds_refuse_a_class_smaller_than_the_fold_count_when_asked():
    with pytest.raises(ValueError, match="at least as many images as folds"):
        stratified_folds(np.array([0] * 10 + [1] * 2), 3, seed=0)


def test_knn_picks_one_neighbour_when_classes_are_interleaved_pairs():
    # Each point's nearest neighbour shares its class; its 3 nearest hold
    # two of the other class: leave-one-out prefers k=1.
    angles = np.array([0.0, 0.05, 0.3, 0.35, 0.6, 0.65, 0.9, 0.95])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    assert _stats.choose_k(x, y, 2) == 1


def test_knn_predicts_by_cosine_when_norms_differ():
    train = np.array([[1.0, 0.0], [0.0, 1.0]])
    test = np.array([[100.0, 1.0], [0.01, 0.5]])
    assert list(_stats.knn_predict(train, [0, 1], test, 2, k=1)) == [0, 1]


def test_bootstrap_interval_is_zero_when_models_agree_on_every_image():
    correct = np.array([True, False] * 30)
    d = paired_bootstrap(correct, correct, seed=0)
    assert (d.difference, d.low, d.high) == (0.0, 0.0, 0.0)
    assert not d.distinguishable


def test_bootstrap_separates_models_when_one_is_right_far_more_often():
    rng = np.random.default_rng(0)
    a = rng.random(200) < 0.9
    b = rng.random(200) < 0.5
    d = paired_bootstrap(a, b, seed=0)
    assert d.distinguishable and d.low > 0.2


def test_bootstrap_calls_a_tie_when_the_difference_is_one_image():
    a = np.ones(50, bool)
    b = a.copy()
    b[0] = False
    d = paired_bootstrap(a, b, seed=0)
    assert d.low <= 0.0 <= d.high


def test_per_class_accuracy_is_each_class_recall_when_computed():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predictions = np.array([0, 1, 1, 1, 0, 0])
    assert _stats.per_class_accuracy(labels, predictions, 3) == [
        0.5,
        2 / 3,
        0.0,
    ]


def test_pareto_front_drops_a_point_when_another_is_better_on_both():
    front = _stats.pareto_front([0.9, 0.8, 0.7, 0.95], [10, 50, 20, 5])
    assert front == [True, True, False, True]
