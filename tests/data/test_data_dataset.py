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


def test_dataset_drops_bad_files_when_mid_epoch(tmp_path, caplog):
    from tests.data.conftest import encode

    root = tmp_path / "mixed"
    testing.write_image_folder(root, num_classes=2, per_class=4, size=(24, 24))
    noise = np.random.default_rng(1).integers(0, 256, (40, 40, 3), np.uint8)
    jpeg, png = encode(noise, "JPEG"), encode(noise, "PNG")
    # Headers are fine, so scan keeps them; decoding fails mid-epoch: the
    # JPEG on TensorFlow's fast path, the PNG on Pillow's path.
    (root / "class_0" / "0001_cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "class_1" / "0002_cut.png").write_bytes(png[: len(png) // 2])
    index = data.scan(root)
    assert len(index) == 10
    with caplog.at_level("WARNING", logger="imagehub.data"):
        images, labels = _collect(data.dataset(index, 12, batch_size=3))
    assert images.shape[0] == 8, f"expected the 8 good images: {len(images)}"
    # Class 0 is cyan (no red), class 1 magenta (red): labels stay aligned.
    red = images[..., 0].mean(axis=(1, 2))
    assert np.array_equal(red > 0.5, labels == 1), (red, labels)
    assert "0002_cut.png" in caplog.text, "the Pillow path names the file"


@pytest.mark.parametrize("resize", ["stretch", "crop", "pad"])
def test_dataset_matches_load_image_when_any_route(tmp_path, resize):
    from PIL import Image

    from tests.data.conftest import encode
    from tests.data.conftest import exif_jpeg

    rng = np.random.default_rng(2)
    noise = rng.integers(0, 256, (30, 50, 3), np.uint8)
    files = {
        "plain.jpg": encode(noise, "JPEG"),  # TensorFlow's fast path
        "turned.jpg": exif_jpeg(noise, 6),  # Pillow: EXIF rotation
        "cmyk.jpg": encode(Image.fromarray(noise).convert("CMYK"), "JPEG"),
        "rgb.png": encode(noise, "PNG"),
        "deep.png": encode(
            Image.fromarray(rng.integers(0, 65536, (30, 50), np.uint16)), "PNG"
        ),
    }
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    index = data.scan(tmp_path)
    plain = [size is not None for size in index.plain_jpeg]
    assert plain == [False, False, True, False, False], index.paths
    ds = data.dataset(index, (14, 11), batch_size=2, resize=resize)
    images, paths = _collect(ds)
    for image, path in zip(images, paths, strict=True):
        expected = data.load_image(path.decode(), (14, 11), resize)
        assert np.array_equal(image, expected), (
            f"{path}: dataset and load_image differ by "
            f"{np.abs(image - expected).max()}"
        )


def test_dataset_same_images_when_cached(index, tmp_path):
    for cache in (True, str(tmp_path / "cache")):
        ds = data.dataset(
            index,
            8,
            batch_size=5,
            cache=cache,
            shuffle=True,
            seed=4,
            with_paths=True,
        )
        epochs = [_collect(ds) for _ in range(2)]
        by_path = [dict(zip(p, x.tolist(), strict=True)) for x, p in epochs]
        assert by_path[0] == by_path[1], f"cache={cache}: images changed"
        assert sorted(by_path[0]) == sorted(p.encode() for p in index.paths)


def test_dataset_reads_hand_built_index(index):
    hand = data.ImageIndex(index.paths[:5], None, [])
    images, paths = _collect(data.dataset(hand, 8))
    assert [p.decode() for p in paths] == index.paths[:5]
    assert images.shape == (5, 8, 8, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resize": "zoom"}, "resize='zoom'"),
        ({"subset": "training"}, "needs validation_split"),
        ({"validation_split": 0.2, "subset": "test"}, "subset='test'"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"image_size": (0, 4)}, "image_size=\\(0, 4\\)"),
    ],
)
def test_dataset_rejects_bad_arguments(index, kwargs, message):
    kwargs = {"image_size": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        data.dataset(index, **kwargs)


def test_dataset_reads_non_ascii_paths_when_given(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("caf\u00e9.jpg", "\u82b1.png"):
        Image.fromarray(testing.random_image(rng, (20, 20))).save(
            tmp_path / name
        )
    index = data.scan(str(tmp_path))
    assert len(index) == 2, index.skipped
    images, paths = next(iter(data.dataset(index, (8, 8), batch_size=2)))
    names = sorted(p.decode("utf-8") for p in paths.numpy())
    assert names == sorted(index.paths), names
    for image, path in zip(images.numpy(), paths.numpy(), strict=True):
        expected = data.load_image(path.decode("utf-8"), (8, 8))
        np.testing.assert_allclose(image, expected, atol=1e-6)


def test_dataset_options_disable_autotuning_when_mapped_further(index):
    # Autotuning's thread stalls iterator deletion (see dataset_options);
    # the options must survive the maps retrain adds downstream.
    ds = data.dataset(index, 8).map(lambda x, y: (x * 2.0, y))
    assert ds.options().autotune.enabled is False, ds.options()


def test_dataset_reads_ahead_a_bounded_number_when_consumer_waits(
    tmp_path, monkeypatch
):
    import time

    from imagehub.data import _dataset

    testing.write_image_folder(
        tmp_path, num_classes=1, per_class=120, size=(12, 12), fmt="png"
    )
    index = data.scan(str(tmp_path))
    decoded = []
    real = _dataset.decode_pillow

    def counting(*args, **kwargs):
        decoded.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(_dataset, "decode_pillow", counting)
    it = iter(data.dataset(index, 8, batch_size=2))
    next(it)
    time.sleep(1.0)  # let the pipeline fill every buffer it has
    # Batches: the one taken, those prefetched, one in the prefetcher's
    # hand, one in the finalize map, one being batched, one spare; images:
    # those being decoded and those waiting in the decode map's buffer.
    parallel = _dataset.decode_parallelism()
    bound = 2 * (_dataset.PREFETCH_BATCHES + 5) + 2 * parallel
    assert len(decoded) <= bound, (
        f"decoded {len(decoded)} of {len(index)} images ahead of a consumer "
        f"that took one batch of 2; expected at most {bound}"
    )
