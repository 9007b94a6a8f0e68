"""`signature=` with `output_key=` or `signature_outputs_as_dict=True`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import imagehub


def test_signature_output_key_matches_call_when_given(tiny_dir, images):
    x, _ = images
    layer = imagehub.KerasLayer(
        tiny_dir, signature="serving_default", output_key="feature_vector"
    )
    obj = tf.saved_model.load(tiny_dir)
    np.testing.assert_allclose(layer(x), obj(x), rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 16, 16, 3)) == (None, 8)


def test_signature_outputs_as_dict_when_asked(tiny_dir):
    layer = imagehub.KerasLayer(
        tiny_dir, signature="serving_default", signature_outputs_as_dict=True
    )
    symbolic = layer(keras.Input((16, 16, 3)))
    assert set(symbolic) == {"feature_vector"}, symbolic
    assert tuple(symbolic["feature_vector"].shape) == (None, 8)


def test_signature_without_output_choice_fails_when_dict(tiny_dir):
    with pytest.raises(ValueError, match="feature_vector"):
        imagehub.KerasLayer(tiny_dir, signature="serving_default")


def test_signature_unknown_fails_with_available_when_given(tiny_dir):
    with pytest.raises(ValueError, match="serving_default"):
        imagehub.KerasLayer(tiny_dir, signature="serve", output_key="x")


def test_output_key_unknown_fails_with_outputs_when_given(tiny_dir):
    with pytest.raises(ValueError, match="feature_vector"):
        imagehub.KerasLayer(
            tiny_dir, signature="serving_default", output_key="logits"
        )


def test_signature_trainable_fails_when_called(tiny_dir, images):
    x, _ = images
    # As hub.KerasLayer: `trainable` may change later, so the call checks.
    layer = imagehub.KerasLayer(
        tiny_dir,
        trainable=True,
        signature="serving_default",
        output_key="feature_vector",
    )
    with pytest.raises(ValueError, match="inference only"):
        layer(x)
    with pytest.raises(ValueError, match="inference only"):
        layer(keras.Input((16, 16, 3)))
