"""Weights, fine-tuning and the training switch (SPEC K3) on tiny models."""

import keras
import numpy as np
import tensorflow as tf

import imagehub


def _head_model(layer, size=16):
    model = keras.Sequential(
        [keras.Input((size, size, 3)), layer, keras.layers.Dense(3)]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _values(layer):
    return {w.path: np.array(w.numpy()) for w in layer.weights}


def test_weights_are_the_saved_model_variables_when_loaded(tiny_dir):
    layer = imagehub.KerasLayer(tiny_dir, trainable=True)
    obj = layer._loaded_obj
    assert sorted(id(w.value) for w in layer.weights) == sorted(
        id(v) for v in obj.variables
    ), "the weights should be the SavedModel's variables, not copies"
    trainable = {id(w.value) for w in layer.trainable_weights}
    assert trainable == {id(v) for v in obj.trainable_variables}, (
        "trainable weights should be exactly obj.trainable_variables (R6)"
    )
    non_trainable = {w.name for w in layer.non_trainable_weights}
    assert non_trainable == {"bn_moving_mean", "bn_moving_variance"}, (
        non_trainable
    )


def test_summary_counts_weights_when_in_sequential(tiny_dir):
    layer = imagehub.KerasLayer(tiny_dir, trainable=True)
    model = _head_model(layer)
    expected = sum(int(np.prod(v.shape)) for v in layer._loaded_obj.variables)
    assert layer.count_params() == expected, (layer.count_params(), expected)
    assert model.count_params() == expected + 8 * 3 + 3
    lines = []
    model.summary(print_fn=lambda s, **_: lines.append(s))
    assert str(expected) in "\n".join(lines), "summary lacks the layer's count"


def test_frozen_layer_keeps_every_variable_when_fit(tiny_dir, images):
    x, y = images
    layer = imagehub.KerasLayer(tiny_dir)
    model = _head_model(layer)
    assert layer.trainable_weights == [], "a frozen layer has no trainables"
    before = _values(layer)
    head_before = model.layers[-1].kernel.numpy().copy()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    for path, value in _values(layer).items():
        np.testing.assert_array_equal(
            value, before[path], err_msg=f"{path} moved in a frozen layer"
        )
    assert not np.allclose(model.layers[-1].kernel.numpy(), head_before), (
        "the head should still train"
    )


def test_trainable_layer_changes_variables_when_fit(tiny_dir, images):
    x, y = images
    layer = imagehub.KerasLayer(tiny_dir, trainable=True)
    model = _head_model(layer)
    before = _values(layer)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    after = _values(layer)
    unchanged = [p for p in before if np.allclose(before[p], after[p])]
    assert unchanged == [], f"fine-tuning left {unchanged} unchanged"


def test_frozen_layer_passes_training_false_when_called_training(
    tiny_dir, images
):
    x, _ = images
    layer = imagehub.KerasLayer(tiny_dir)
    before = _values(layer)
    out_train = layer(x, training=True)
    out_infer = layer(x, training=False)
    np.testing.assert_allclose(out_train, out_infer, err_msg="dropout ran")
    for path, value in _values(layer).items():
        np.testing.assert_array_equal(value, before[path], err_msg=path)


def test_trainable_layer_passes_training_when_called_training(tiny_dir, images):
    x, _ = images
    layer = imagehub.KerasLayer(tiny_dir, trainable=True)
    mean = next(w for w in layer.weights if w.name == "bn_moving_mean")
    before = mean.numpy().copy()
    layer(x, training=False)
    np.testing.assert_array_equal(mean.numpy(), before)
    layer(x, training=True)
    assert not np.allclose(mean.numpy(), before), "BN stats did not update"


def test_tensor_training_flag_selects_mode_when_traced(tiny_dir, images):
    x, _ = images
    layer = imagehub.KerasLayer(
        tiny_dir, trainable=True, arguments=dict(dropout_rate=0.0)
    )

    @tf.function
    def run(flag):
        return layer(x, training=flag)

    eager = layer(x, training=False).numpy()
    infer = run(tf.constant(False)).numpy()
    train = run(tf.constant(True)).numpy()
    np.testing.assert_allclose(infer, eager, rtol=1e-5)
    assert not np.allclose(infer, train), "tensor training=True was ignored"


def test_unfreezing_makes_weights_trainable_when_toggled(tiny_dir):
    layer = imagehub.KerasLayer(tiny_dir)
    assert layer.trainable_weights == []
    layer.trainable = True
    assert len(layer.trainable_weights) == len(
        layer._loaded_obj.trainable_variables
    ), "unfreezing should expose the SavedModel's trainable variables"
