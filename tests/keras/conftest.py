"""Fixtures of the KerasLayer tests: tiny SavedModels written once."""

from typing import Any
from typing import NamedTuple

import numpy as np
import pytest

from imagehub.testing import write_tiny_model


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A tiny feature-vector SavedModel (8 features, card, BN, 2 reg losses)."""
    return write_tiny_model(tmp_path_factory.mktemp("keras") / "tiny_fv")


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory):
    """A tiny 3-class classifier SavedModel."""
    return write_tiny_model(
        tmp_path_factory.mktemp("keras") / "tiny_cls",
        task="classification",
        num_classes=3,
    )


@pytest.fixture(scope="session")
def tiny_no_card_dir(tmp_path_factory):
    """A tiny feature-vector SavedModel without a model card."""
    return write_tiny_model(
        tmp_path_factory.mktemp("keras") / "tiny_nocard", with_card=False
    )


@pytest.fixture()
def images():
    """8 random 16x16 images in [0, 1] and 3-class labels."""
    rng = np.random.default_rng(0)
    x = rng.random((8, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 3, size=8)
    return x, y


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory):
    """`saved_model(writer, **kwargs)`: the directory `writer` (one of
    imagehub.testing's `write_*_model`) wrote with `kwargs`, written once
    per session (the layers only read them)."""
    root = tmp_path_factory.mktemp("layer_models")
    written = {}

    def get(writer, **kwargs):
        key = (writer.__name__, tuple(sorted(kwargs.items())))
        if key not in written:
            name = "-".join([writer.__name__, *(f"{k}{v}" for k, v in key[1])])
            written[key] = writer(root / name, **kwargs)
        return written[key]

    return get


class Flavour(NamedTuple):
    """A Keras flavour: its module and imagehub's layer for it."""

    name: str
    keras: Any
    KerasLayer: Any


@pytest.fixture(params=["keras3", "tf_keras"])
def flavour(request):
    """Keras 3 with `imagehub.KerasLayer`, tf_keras with
    `imagehub.keras.tf_keras.KerasLayer`."""
    if request.param == "keras3":
        import keras

        import imagehub

        return Flavour("keras3", keras, imagehub.KerasLayer)
    tf_keras = pytest.importorskip("tf_keras")
    from imagehub.keras.tf_keras import KerasLayer

    return Flavour("tf_keras", tf_keras, KerasLayer)
