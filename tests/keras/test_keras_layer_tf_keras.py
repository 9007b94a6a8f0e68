"""The tf_keras (Keras 2) variant: `imagehub.keras.tf_keras.KerasLayer`."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from imagehub.keras.tf_keras import KerasLayer


def _model(layer):
    model = tf_keras.Sequential(
        [tf_keras.Input((16, 16, 3)), layer, tf_keras.layers.Dense(3)]
    )
    model.compile(
        optimizer=tf_keras.optimizers.SGD(0.1),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _values(layer):
    return [w.numpy().copy() for w in layer.weights]


def test_tf_keras_frozen_keeps_variables_when_fit(tiny_dir, images):
    x, y = images
    layer = KerasLayer(tiny_dir)
    model = _model(layer)
    losses = [float(v) for v in model.losses]
    assert losses == [0.0, 0.0], f"frozen layer's losses {losses}"
    before = _values(layer)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    for b, a in zip(before, _values(layer), strict=True):
        np.testing.assert_array_equal(a, b)


def test_tf_keras_trainable_fine_tunes_when_fit(tiny_dir, images):
    x, y = images
    layer = KerasLayer(tiny_dir, trainable=True)
    model = _model(layer)
    assert len(layer.trainable_weights) == 5
    assert len(layer.non_trainable_weights) == 2
    obj = tf.saved_model.load(tiny_dir)
    np.testing.assert_allclose(
        sorted(float(v) for v in model.losses),
        sorted(float(fn()) for fn in obj.regularization_losses),
        rtol=1e-6,
    )
    before = _values(layer)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    moved = [
        not np.allclose(b, a)
        for b, a in zip(before, _values(layer), strict=True)
    ]
    assert all(moved), f"fine-tuning left variables unchanged: {moved}"


def test_tf_keras_round_trip_identical_when_saved(tiny_dir, images, tmp_path):
    x, y = images
    model = _model(
        KerasLayer(
            tiny_dir, trainable=True, arguments=dict(batch_norm_momentum=0.9)
        )
    )
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = tf_keras.models.load_model(path)
    np.testing.assert_array_equal(
        restored.predict(x, verbose=0), model.predict(x, verbose=0)
    )


def test_tf_keras_unknown_argument_fails_when_given(tiny_dir):
    with pytest.raises(ValueError, match="dropout_rate"):
        KerasLayer(tiny_dir, arguments=dict(momentum=0.5))
