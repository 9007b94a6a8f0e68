"""The RandAugment preset (--augmentation randaugment with
--do_data_augmentation), on a generated image folder and the tiny
feature-vector SavedModel."""

import math

import numpy as np
import pytest

from imagehub.retrain import RetrainConfig
from imagehub.retrain import make_image_classifier
from imagehub.retrain._model import augmentation_layers
from imagehub.testing import write_image_folder
from imagehub.testing import write_tiny_model


def _randaugment(**changes):
    return RetrainConfig(
        do_data_augmentation=True, augmentation="randaugment", **changes
    )


def test_randaugment_preset_uses_keras_randaugment():
    layers = augmentation_layers(_randaugment(), (16, 16), seed=0)
    names = [type(layer).__name__ for layer in layers]
    assert names == ["RandomFlip", "RandAugment"], names
    without_flip = augmentation_layers(
        _randaugment(horizontal_flip=False), (16, 16), seed=0
    )
    assert [type(x).__name__ for x in without_flip] == ["RandAugment"]


def test_randaugment_changes_training_images_within_range():
    import keras

    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, (8, 16, 16, 3)).astype(np.float32)
    augment = keras.Sequential(
        augmentation_layers(_randaugment(), (16, 16), seed=3)
    )
    out = np.asarray(augment(images, training=True))
    assert out.shape == images.shape
    changed = [
        not np.allclose(a, b, atol=1e-3)
        for a, b in zip(out, images, strict=True)
    ]
    assert sum(changed) >= 6, f"expected most images changed, {changed}"
    low, high = float(out.min()), float(out.max())
    assert low >= -1e-5 and high <= 1 + 1e-5, (low, high)


def test_randaugment_without_data_augmentation_is_refused():
    with pytest.raises(ValueError, match="do_data_augmentation"):
        RetrainConfig(augmentation="randaugment")


def test_randaugment_run_trains_and_exports(tmp_path):
    write_image_folder(
        tmp_path / "images", num_classes=3, per_class=12, size=(16, 16)
    )
    write_tiny_model(tmp_path / "module")
    result = make_image_classifier(
        _randaugment(
            image_dir=str(tmp_path / "images"),
            tfhub_module=str(tmp_path / "module"),
            saved_model_dir=str(tmp_path / "model"),
            train_epochs=3,
            batch_size=8,
            seed=0,
        )
    )
    assert result.metrics["cache_features"] is False
    assert result.epochs_run == 3
    losses = result.history["loss"]
    assert all(math.isfinite(x) for x in losses), losses
    assert (tmp_path / "model" / "saved_model.pb").exists()
