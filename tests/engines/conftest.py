"""Shared fixtures of the engine tests: a private model cache, tiny and
real models, real photos."""

from __future__ import annotations

import os

import numpy as np
import pytest

from imagehub import testing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
DEFAULT = os.path.join(ROOT, "imagehub", "_default")
FLOWERS = os.path.join(DEFAULT, "flowers")
WEIGHTS = os.path.join(DEFAULT, "weights", "mobilenet_2_5_224_tf_no_top.h5")
FLOAT_ENGINES = ("litert", "openvino")


@pytest.fixture(autouse=True)
def engine_cache(tmp_path_factory, monkeypatch) -> str:
    """One model cache for the session (compilations are reused), set as
    IMAGEHUB_CACHE_DIR for every test."""
    root = str(tmp_path_factory.getbasetemp() / "engine-cache")
    monkeypatch.setenv("IMAGEHUB_CACHE_DIR", root)
    return root


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny feature vector SavedModel (16x16, 8 features)."""
    return testing.write_tiny_model(tmp_path_factory.mktemp("tiny") / "fv")


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory) -> tuple[str, list[str]]:
    """40 generated JPEGs: (folder, paths)."""
    folder = str(tmp_path_factory.mktemp("tiny-images") / "flat")
    return folder, testing.write_flat_folder(folder, 40, size=(24, 24))


def flower_paths() -> list[str]:
    paths = []
    for root, _, names in os.walk(FLOWERS):
        paths += [os.path.join(root, n) for n in names if n.endswith(".jpg")]
    return sorted(paths)


def flowers(size: tuple[int, int], count: int = 32) -> np.ndarray:
    """The first `count` bundled photos, decoded as embed decodes them."""
    from imagehub.data import load_image

    images = []
    for path in flower_paths()[:count]:
        with open(path, "rb") as f:
            images.append(load_image(f.read(), size))
    return np.stack(images).astype(np.float32)


@pytest.fixture(scope="session")
def mobilenet_fv(tmp_path_factory) -> str:
    """The bundled MobileNet V1 0.25 (ImageNet weights) as a feature
    vector export, as `imagehub demo` makes it."""
    from imagehub.export import arch_options
    from imagehub.export import build_arch
    from imagehub.export import export_feature_vector

    model = build_arch("mobilenet", alpha=0.25, weights=WEIGHTS)
    path = str(tmp_path_factory.mktemp("mobilenet") / "fv")
    options = arch_options("mobilenet", alpha=0.25, weights=WEIGHTS)
    return export_feature_vector(model, path, **options)
