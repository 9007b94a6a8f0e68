"""Regularization losses (SPEC R7, K3): counted only while trainable.

As with `hub.KerasLayer`, a frozen layer reports each SavedModel loss as 0.
"""

import keras
import numpy as np
import tensorflow as tf

import imagehub


def _saved_model_losses(path):
    obj = tf.saved_model.load(path)
    return sorted(float(fn()) for fn in obj.regularization_losses)


def _model(layer):
    return keras.Sequential(
        [keras.Input((16, 16, 3)), layer, keras.layers.Dense(3)]
    )


def test_losses_equal_saved_model_losses_when_trainable(tiny_dir, images):
    x, _ = images
    model = _model(imagehub.KerasLayer(tiny_dir, trainable=True))
    model(x)
    got = sorted(float(v) for v in model.losses)
    expected = _saved_model_losses(tiny_dir)
    assert len(expected) == 2, expected
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_losses_zero_when_frozen(tiny_dir, images):
    x, _ = images
    model = _model(imagehub.KerasLayer(tiny_dir))
    model(x)
    got = [float(v) for v in model.losses]
    assert got == [0.0, 0.0], f"frozen layer's losses {got}"


def test_losses_follow_trainable_when_toggled(tiny_dir, images):
    x, _ = images
    layer = imagehub.KerasLayer(tiny_dir, trainable=True)
    model = _model(layer)
    layer.trainable = False
    assert [float(v) for v in model.losses] == [0.0, 0.0], "not zero frozen"
    layer.trainable = True
    got = sorted(float(v) for v in model.losses)
    np.testing.assert_allclose(got, _saved_model_losses(tiny_dir), rtol=1e-6)


def test_fit_loss_includes_regularization_when_trainable(tiny_dir, images):
    x, y = images
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    results = {}
    for trainable in (False, True):
        layer = imagehub.KerasLayer(tiny_dir, trainable=trainable)
        model = _model(layer)
        model.layers[-1].set_weights(
            [np.full((8, 3), 0.1, np.float32), np.zeros(3, np.float32)]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss=ce)
        results[trainable] = model.evaluate(x, y, verbose=0)
    reg = sum(_saved_model_losses(tiny_dir))
    np.testing.assert_allclose(
        results[True] - results[False], reg, rtol=1e-4, atol=1e-6
    )
