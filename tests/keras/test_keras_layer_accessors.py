"""Public read-only accessors and `load_options` in the layer's config."""

import json
import os

import keras
import pytest
import tensorflow as tf

import imagehub

OPTIONS = dict(
    allow_partial_checkpoint=True,
    experimental_io_device="/job:localhost",
    experimental_variable_policy="save_variable_devices",
)


def _same_options(a, b):
    fields = (
        "allow_partial_checkpoint",
        "experimental_io_device",
        "experimental_skip_checkpoint",
        "experimental_variable_policy",
        "experimental_load_function_aliases",
    )
    return all(getattr(a, f) == getattr(b, f) for f in fields)


@pytest.fixture(scope="module")
def layer(tiny_dir):
    return imagehub.KerasLayer(
        tiny_dir, trainable=True, arguments=dict(batch_norm_momentum=0.9)
    )


def test_arguments_returns_a_copy_when_mutated(layer):
    args = layer.arguments
    args["batch_norm_momentum"] = 0.1
    assert layer.arguments == dict(batch_norm_momentum=0.9)


def test_arguments_is_read_only_when_assigned(layer):
    with pytest.raises(AttributeError):
        layer.arguments = {}


def test_saved_model_regularization_losses_are_the_models(layer):
    losses = layer.saved_model_regularization_losses
    assert isinstance(losses, tuple) and len(losses) == 2, losses
    expected = layer.resolved_object.regularization_losses
    assert [float(fn()) for fn in losses] == [float(fn()) for fn in expected]


def test_resolved_object_is_the_loaded_object_when_object_given(tiny_dir):
    obj = tf.saved_model.load(tiny_dir)
    assert imagehub.KerasLayer(obj).resolved_object is obj


def test_load_options_round_trip_through_config(tiny_dir):
    options = tf.saved_model.LoadOptions(**OPTIONS)
    layer = imagehub.KerasLayer(tiny_dir, load_options=options)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["load_options"]["experimental_io_device"] == "/job:localhost"
    restored = imagehub.KerasLayer.from_config(config)
    assert isinstance(restored.load_options, tf.saved_model.LoadOptions)
    assert _same_options(restored.load_options, options)


def test_load_options_round_trip_through_keras_file(tiny_dir, tmp_path):
    options = tf.saved_model.LoadOptions(**OPTIONS)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            imagehub.KerasLayer(tiny_dir, load_options=options),
        ]
    )
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path).layers[0]
    assert restored.handle == os.fspath(tiny_dir)
    assert _same_options(restored.load_options, options)


def test_config_has_no_load_options_when_none_given(layer):
    assert "load_options" not in layer.get_config()
    assert layer.load_options is None


def test_from_config_names_field_when_load_options_unknown(tiny_dir):
    config = {"handle": tiny_dir, "load_options": {"io_device": "/cpu:0"}}
    with pytest.raises(ValueError, match="io_device") as info:
        imagehub.KerasLayer.from_config(config)
    assert "experimental_io_device" in str(info.value), "no valid choices"
