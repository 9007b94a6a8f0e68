"""Mixed precision: the layer takes and returns float32 in float16 models."""

import keras
import numpy as np
import pytest

import imagehub


@pytest.fixture()
def mixed_policy():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_fit_runs_when_mixed_float16(mixed_policy, tiny_dir, images):
    x, y = images
    layer = imagehub.KerasLayer(tiny_dir, trainable=True)
    dense = keras.layers.Dense(3)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            layer,
            dense,
            keras.layers.Activation("linear", dtype="float32"),
        ]
    )
    assert layer.compute_dtype == "float32", layer.compute_dtype
    assert dense.compute_dtype == "float16", "the rest should stay float16"
    assert layer(x).dtype == "float32"
    before = [w.numpy().copy() for w in layer.trainable_weights]
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all(), history.history
    moved = [
        not np.allclose(b, w.numpy())
        for b, w in zip(before, layer.trainable_weights, strict=True)
    ]
    assert all(moved), "fine-tuning under mixed precision did not update"


def test_float16_dtype_rejected_when_given(tiny_dir):
    with pytest.raises(ValueError, match="float32"):
        imagehub.KerasLayer(tiny_dir, dtype="mixed_float16")
