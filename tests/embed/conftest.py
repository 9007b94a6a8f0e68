"""Shared fixtures of the embed tests: tiny models and generated images."""

from __future__ import annotations

import os

import numpy as np
import pytest

from imagehub import testing

NUM_IMAGES = 300
IMAGE_SIZE = (24, 24)


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, str]:
    """A tiny feature vector model and a tiny classifier (16x16 default)."""
    root = tmp_path_factory.mktemp("models")
    return {
        "feature_vector": testing.write_tiny_model(root / "fv"),
        "classification": testing.write_tiny_model(
            root / "cls", task="classification", num_classes=3
        ),
    }


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> tuple[str, list[str]]:
    """300 random 24x24 JPEGs in one folder; returns (folder, paths)."""
    root = str(tmp_path_factory.mktemp("images") / "flat")
    paths = testing.write_flat_folder(root, NUM_IMAGES, size=IMAGE_SIZE)
    return root, paths


def write_bad_files(folder: str) -> list[str]:
    """Writes files named like images that cannot be decoded."""
    os.makedirs(folder, exist_ok=True)
    good = testing.write_flat_folder(
        os.path.join(folder, "tmp_good"), 1, size=IMAGE_SIZE
    )[0]
    with open(good, "rb") as f:
        jpeg = f.read()
    bad = {
        "truncated.jpg": jpeg[: len(jpeg) // 3],
        "random.jpg": np.random.default_rng(0).bytes(500),
        "empty.png": b"",
        "text.png": b"this is not an image\n",
    }
    paths = []
    for name, data in bad.items():
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    os.remove(good)
    os.rmdir(os.path.join(folder, "tmp_good"))
    return paths


def model_outputs(model_dir: str, paths: list[str], image_size, resize):
    """The model's `__call__` on images decoded by imagehub.data."""
    import tensorflow as tf

    from imagehub.data import load_image

    obj = tf.saved_model.load(model_dir)
    images = []
    for path in paths:
        with open(path, "rb") as f:
            images.append(load_image(f.read(), image_size, resize=resize))
    return obj(tf.constant(np.stack(images))).numpy()
