"""`imagehub.data.dataset`: batches, labels, paths, splits, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from imagehub import data
from imagehub import testing


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    testing.write_image_folder(root, num_classes=3, per_class=6, size=(20, 30))
    return str(root)


@pytest.fixture(scope="module")
def index(folder):
    return data.scan(folder)


def _collect(ds):
    images, targets = [], []
    for x, y in ds:
        images.append(x.numpy())
        targets.append(y.numpy())
    return np.concatenate(images), np.concatenate(targets)


def test_dataset_yields_float_rgb_batches_when_labelled(index):
    ds = data.dataset(index, (16, 12), batch_size=4)
    images, labels = _collect(ds)
    assert images.shape == (18, 16, 12, 3), images.shape
    assert images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels.tolist() == index.labels, "unshuffled order must be kept"


def test_dataset_yields_paths_when_with_paths(index):
    ds = data.dataset(index, 8, batch_size=5, with_paths=True)
    _, paths = _collect(ds)
    assert [p.decode() for p in paths] == index.paths


def test_dataset_same_batches_when_seeded(index):
    def run():
        ds = data.dataset(index, 8, batch_size=4, shuffle=True, seed=3)
        return [_collect(ds)[1].tolist() for _ in range(2)]

    first, second = run(), run()
    assert first == second, "same seed must give the same order"
    assert first[0] != index.labels, "shuffle must change the order"
    assert first[0] != first[1], "each epoch must be reshuffled"


def test_dataset_subsets_disjoint_and_cover_when_split(index):
    def paths(subset):
        ds = data.dataset(
            index,
            8,
            validation_split=0.25,
            subset=subset,
            seed=7,
            with_paths=True,
            shuffle=True,
        )
        return [p.decode() for p in _collect(ds)[1]]

    train, val = paths("training"), paths("validation")
    assert not set(train) & set(val), "subsets overlap"
    assert sorted(train + val) == sorted(index.paths), "subsets must cover"
    assert len(val) == 6, f"expected 25% of 18 stratified = 6, got {len(val)}"
