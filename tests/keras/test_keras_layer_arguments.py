"""`arguments=` (SPEC K4): passed to every call, checked at construction."""

import numpy as np
import pytest
import tensorflow as tf

import imagehub


def _moving_mean_after_training_call(layer, x):
    layer(x, training=True)
    mean = next(w for w in layer.weights if w.name == "bn_moving_mean")
    return mean.numpy()


def test_arguments_change_training_result_when_given(tiny_dir, images):
    x, _ = images
    default = imagehub.KerasLayer(tiny_dir, trainable=True)
    fast = imagehub.KerasLayer(
        tiny_dir, trainable=True, arguments=dict(batch_norm_momentum=0.5)
    )
    a = _moving_mean_after_training_call(default, x)
    b = _moving_mean_after_training_call(fast, x)
    assert not np.allclose(a, b), "batch_norm_momentum had no effect"


def test_dropout_argument_changes_training_output_when_given(tiny_dir, images):
    x, _ = images
    no_drop = imagehub.KerasLayer(
        tiny_dir, trainable=True, arguments=dict(dropout_rate=0.0)
    )
    drop = imagehub.KerasLayer(tiny_dir, trainable=True)
    # Without dropout, training mode is deterministic; with it, not.
    np.testing.assert_allclose(
        no_drop(x, training=True), no_drop(x, training=True), rtol=1e-6
    )
    assert not np.allclose(drop(x, training=True), drop(x, training=True))


def test_arguments_unknown_fail_with_accepted_list_when_card(tiny_dir):
    with pytest.raises(ValueError) as info:
        imagehub.KerasLayer(tiny_dir, arguments=dict(momentum=0.9))
    message = str(info.value)
    assert "momentum" in message and "model card" in message, message
    assert "batch_norm_momentum" in message and "dropout_rate" in message


def test_arguments_unknown_fail_when_no_card(tiny_no_card_dir):
    obj = tf.saved_model.load(tiny_no_card_dir)
    with pytest.raises(ValueError) as info:
        imagehub.KerasLayer(obj, arguments=dict(bogus=1))
    message = str(info.value)
    assert "traced __call__" in message, message
    assert "batch_norm_momentum" in message and "dropout_rate" in message


def test_arguments_training_rejected_when_given(tiny_dir):
    with pytest.raises(ValueError, match="training"):
        imagehub.KerasLayer(tiny_dir, arguments=dict(training=True))


def test_card_found_when_object_already_loaded(tiny_dir):
    layer = imagehub.KerasLayer(tf.saved_model.load(tiny_dir))
    assert layer.model_card is not None, "card asset not found on object"
    assert layer.model_card.num_outputs == 8
    assert layer.handle is None
