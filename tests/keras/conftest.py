"""Fixtures of the KerasLayer tests: tiny SavedModels written once."""

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
