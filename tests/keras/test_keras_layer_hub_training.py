"""hub.KerasLayer's training behaviours, in Keras 3 and in tf_keras.

Each scenario runs with both layers (the `flavour` fixture) on SavedModels
written by hand ("raw") and saved from tf_keras models ("keras"), as
TF Hub's publishers wrote them.
"""

import logging

import numpy as np
import pytest
import tensorflow as tf

from imagehub.testing import write_batch_norm_model
from imagehub.testing import write_custom_attributes_model
from imagehub.testing import write_half_plus_one_model
from imagehub.testing import write_hparams_model
from imagehub.testing import write_string_length_model

SOURCES = pytest.mark.parametrize(
    "from_keras", [False, True], ids=["raw", "keras"]
)


def _losses(model):
    return [float(v) for v in model.losses]


def _functional(flavour, layer, dtype="float32"):
    k = flavour.keras
    inputs = k.Input((1,), dtype=dtype)
    return k.Model(inputs, layer(inputs))


def _fit_steps(model, x, y, steps):
    """`steps` gradient steps on the whole batch (x, y), in one epoch:
    what `fit(x, y, batch_size=len(x), epochs=steps)` does, without
    Keras 3's per-epoch overhead."""
    data = tf.data.Dataset.from_tensors((x, y)).repeat(steps)
    model.fit(data, epochs=1, verbose=0)


def _batch_norm_variables(layer):
    """beta, gamma, moving_mean, moving_variance of the loaded object."""
    found = sorted(layer.resolved_object.variables, key=lambda v: v.name)
    names = [v.name for v in found]
    for v, suffix in zip(
        found, ("beta", "gamma", "moving_mean", "moving_variance"), strict=True
    ):
        assert v.name.endswith(f"{suffix}:0"), names
    return found


@SOURCES
def test_half_plus_one_retrains_kernel_only_when_trainable(
    flavour, saved_model, from_keras
):
    path = saved_model(write_half_plus_one_model, from_keras=from_keras)
    model = _functional(flavour, flavour.KerasLayer(path, trainable=True))
    x = np.array([[0.0], [8.0], [10.0], [12.0]], np.float32)
    np.testing.assert_array_equal(model(x), [[1.0], [5.0], [6.0], [7.0]])
    np.testing.assert_allclose(_losses(model), [0.0025], rtol=1e-6)
    assert [
        w.shape.rank if hasattr(w.shape, "rank") else len(w.shape)
        for w in model.trainable_weights
    ] == [2], "expected kernel w only"
    assert sorted(len(w.shape) for w in model.non_trainable_weights) == [1, 2]
    model.compile(flavour.keras.optimizers.SGD(0.002), "mean_squared_error")
    x_train = np.array([[9.0], [10.0], [11.0]] * 10, np.float32)
    _fit_steps(model, x_train, x_train / 2 + 6, 10)
    # The frozen bias stays 1; the kernel grows to almost 1 to compensate.
    np.testing.assert_array_equal(model(np.zeros((1, 1), np.float32)), [[1.0]])
    np.testing.assert_allclose(
        model(np.full((1, 1), 10.0, np.float32)), [[11.0]], rtol=0.03
    )
    np.testing.assert_allclose(_losses(model), [0.01], rtol=0.06)


@SOURCES
def test_regularization_loss_follows_trainable_when_toggled_after_build(
    flavour, saved_model, from_keras
):
    path = saved_model(write_half_plus_one_model, from_keras=from_keras)
    layer = flavour.KerasLayer(path, trainable=False)
    model = _functional(flavour, layer)
    assert _losses(model) == [0.0], "frozen: one zero loss per SavedModel loss"
    layer.trainable = True
    np.testing.assert_allclose(_losses(model), [0.0025], rtol=1e-6)
    layer.trainable = False
    assert _losses(model) == [0.0]
    layer.trainable = True
    np.testing.assert_allclose(_losses(model), [0.0025], rtol=1e-6)


@SOURCES
def test_batch_norm_learns_statistics_when_trainable(
    flavour, saved_model, from_keras
):
    path = saved_model(write_batch_norm_model, from_keras=from_keras)
    layer = flavour.KerasLayer(path, trainable=True)
    beta, _, mean, _ = _batch_norm_variables(layer)
    model = _functional(flavour, layer)
    model.compile(flavour.keras.optimizers.SGD(0.1), "mean_squared_error")
    x = np.array([[11.0], [12.0], [13.0]], np.float32)
    _fit_steps(model, x, 2 * x, 100)
    np.testing.assert_allclose(mean.numpy(), [12.0], rtol=1e-5)
    np.testing.assert_allclose(beta.numpy(), [24.0], rtol=1e-5)
    np.testing.assert_allclose(model(x), 2 * x, rtol=1e-4)
    # Inference uses the moving statistics and never updates them.
    other = np.array([[10.0], [20.0], [30.0]], np.float32)
    for _ in range(5):
        np.testing.assert_allclose(model(other), 2 * other, rtol=1e-4)
    np.testing.assert_allclose(mean.numpy(), [12.0], rtol=1e-5)


@SOURCES
def test_batch_norm_unchanged_when_frozen(flavour, saved_model, from_keras):
    k = flavour.keras
    path = saved_model(write_batch_norm_model, from_keras=from_keras)
    layer = flavour.KerasLayer(path, trainable=False)
    variables = _batch_norm_variables(layer)
    dense = k.layers.Dense(
        1, use_bias=False, kernel_initializer=k.initializers.Constant(1.5)
    )
    inputs = k.Input((1,))
    model = k.Model(inputs, dense(layer(inputs)))
    model.compile(k.optimizers.SGD(0.1), "mean_squared_error")
    x = np.array([[1.0], [2.0], [3.0]], np.float32)
    _fit_steps(model, x, 2 * x, 20)
    np.testing.assert_allclose(
        [float(v.numpy()[0]) for v in variables], [0.0, 1.0, 0.0, 1.0]
    )
    np.testing.assert_allclose(model(x), 2 * x, rtol=1e-3)


@SOURCES
def test_custom_attributes_reachable_when_resolved_object_read(
    flavour, saved_model, from_keras
):
    path = saved_model(write_custom_attributes_model, from_keras=from_keras)
    layer = flavour.KerasLayer(path)
    expected = layer.resolved_object.sample_output.value().numpy()
    asset = layer.resolved_object.sample_input.asset_path.numpy()
    with open(asset, encoding="utf-8") as f:
        text = tf.constant([[f.read()]])
    outputs = layer(text)
    assert outputs.dtype == tf.int64, "string input was cast"
    np.testing.assert_array_equal(outputs, expected)


@SOURCES
def test_resave_works_when_mixed_float16(
    flavour, saved_model, from_keras, tmp_path
):
    k = flavour.keras
    path = saved_model(write_string_length_model, from_keras=from_keras)
    x = tf.constant([["a"], ["aa"], ["aaa"]])
    y = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], np.float32)
    k.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = flavour.KerasLayer(path, trainable=True)
        model = _functional(flavour, layer, dtype="string")
        model.compile(k.optimizers.SGD(0.002, momentum=0.001), "mse")
        model.fit(tf.data.Dataset.from_tensors((x, y)), verbose=0)
        tf.saved_model.save(model, str(tmp_path / "resaved"))
        if flavour.name == "keras3":
            model.save(str(tmp_path / "resaved.keras"))
    finally:
        k.mixed_precision.set_global_policy("float32")
    expected = model(x)
    serve = tf.saved_model.load(str(tmp_path / "resaved")).signatures[
        "serving_default"
    ]
    (output,) = serve(x).values()
    np.testing.assert_allclose(output, expected, rtol=1e-6)
    if flavour.name == "keras3":
        restored = k.saving.load_model(str(tmp_path / "resaved.keras"))
        np.testing.assert_allclose(restored(x), expected, rtol=1e-6)


def test_get_config_round_trip_keeps_hyperparameters(flavour, saved_model):
    path = saved_model(write_hparams_model)
    layer = flavour.KerasLayer(path, arguments=dict(a=10.0))  # b stays 0.
    x = np.array([[1.0], [2.0], [3.0]], np.float32)
    np.testing.assert_array_equal(layer(x), [[10.0], [20.0], [30.0]])
    clone = flavour.KerasLayer.from_config(layer.get_config())
    np.testing.assert_array_equal(clone(x), layer(x))


def test_error_logged_once_when_trainable_without_variables(
    flavour, saved_model, caplog
):
    layer = flavour.KerasLayer(saved_model(write_hparams_model), trainable=True)
    with caplog.at_level(logging.ERROR):
        layer(np.array([[10.0]], np.float32))
        layer([[10.0]])  # A Python list, as hub.KerasLayer takes.
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "zero trainable weights" in errors[0].getMessage()
