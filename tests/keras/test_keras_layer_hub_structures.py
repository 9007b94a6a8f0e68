"""hub.KerasLayer's input, output, signature and config behaviours, in
Keras 3 and in tf_keras (the `flavour` fixture)."""

import json

import numpy as np
import pytest
import tensorflow as tf

from imagehub.testing import write_dict_io_model
from imagehub.testing import write_half_plus_one_model
from imagehub.testing import write_keras_default_model
from imagehub.testing import write_list_output_model
from imagehub.testing import write_plus_one_model
from imagehub.testing import write_string_length_model

SOURCES = pytest.mark.parametrize(
    "from_keras", [False, True], ids=["raw", "keras"]
)
WITH_SHAPES = pytest.mark.parametrize(
    "output_shape", [False, True], ids=["traced", "given"]
)


def _json_cycle(config):
    return json.loads(json.dumps(config))


def _shape(shape):
    return tuple(tf.TensorShape(shape).as_list())


@WITH_SHAPES
def test_dict_inputs_and_outputs_work_when_functional(
    flavour, saved_model, output_shape
):
    k = flavour.keras
    kwargs = dict(arguments=dict(return_dict=True))
    if output_shape:
        kwargs["output_shape"] = dict(sigma=(2,), delta=(1,))
    layer = flavour.KerasLayer(saved_model(write_dict_io_model), **kwargs)
    inputs = dict(x=k.Input((1,)), y=k.Input((1,)))
    out = layer(inputs)
    concat = k.layers.Concatenate()([out["delta"], out["sigma"]])
    model = k.Model(inputs, [out["delta"], out["sigma"], concat])
    x = np.array([[11.0], [22.0], [33.0]], np.float32)
    y = np.array([[1.0], [2.0], [3.0]], np.float32)
    delta, sigma, both = (np.asarray(t) for t in model(dict(x=x, y=y)))
    np.testing.assert_allclose(delta, [[10.0], [20.0], [30.0]])
    np.testing.assert_allclose(sigma, [[12, 13], [24, 26], [36, 39]])
    np.testing.assert_allclose(both, np.concatenate([delta, sigma], 1))
    config = _json_cycle(layer.get_config())
    assert ("output_shape" in config) == output_shape, config
    clone = flavour.KerasLayer.from_config(config)
    assert _json_cycle(clone.get_config()) == config


def test_dict_output_default_trace_when_no_arguments(flavour, saved_model):
    layer = flavour.KerasLayer(saved_model(write_dict_io_model))
    x = np.ones((2, 1), np.float32)
    np.testing.assert_allclose(layer(dict(x=x, y=x)), [[2, 3], [2, 3]])
    assert _shape(layer.compute_output_shape(dict(x=(2, 1), y=(2, 1)))) == (
        2,
        2,
    )


@WITH_SHAPES
def test_list_outputs_of_unknown_shapes_work_when_functional(
    flavour, saved_model, output_shape
):
    k = flavour.keras
    kwargs = {}
    if output_shape:
        kwargs["output_shape"] = [[1], [2, 2], [3, 3, 3]]
    layer = flavour.KerasLayer(saved_model(write_list_output_model), **kwargs)
    inputs = k.Input((1,))
    symbolic = layer(inputs)
    assert len(symbolic) == 3
    if output_shape:
        assert [_shape(t.shape) for t in symbolic] == [
            (None, 1),
            (None, 2, 2),
            (None, 3, 3, 3),
        ]
    model = k.Model(inputs, symbolic)
    x = np.array([[1.0], [10.0]], np.float32)
    single, double, triple = (np.asarray(t) for t in model(x))
    np.testing.assert_allclose(single, x)
    np.testing.assert_allclose(
        double, np.broadcast_to(2 * x[:, :, None], (2, 2, 2))
    )
    np.testing.assert_allclose(
        triple, np.broadcast_to(3 * x[:, :, None, None], (2, 3, 3, 3))
    )
    config = _json_cycle(layer.get_config())
    clone = flavour.KerasLayer.from_config(config)
    assert _json_cycle(clone.get_config()) == config


def test_nested_output_shape_feeds_dense_when_given(flavour, saved_model):
    k = flavour.keras
    layer = flavour.KerasLayer(
        saved_model(write_list_output_model),
        output_shape=[[1], [2, 2], [3, 3, 3]],
    )
    inputs = k.Input((1,))
    _, double, _ = layer(inputs)
    # Dense needs the last dimension, which only output_shape gives.
    dense = k.layers.Dense(1, kernel_initializer="ones", use_bias=False)
    model = k.Model(inputs, dense(double))
    np.testing.assert_allclose(
        model(np.array([[1.0]], np.float32)), [[[4.0], [4.0]]]
    )


@SOURCES
def test_compute_output_shape_from_traces_when_float(
    flavour, saved_model, from_keras
):
    path = saved_model(write_half_plus_one_model, from_keras=from_keras)
    layer = flavour.KerasLayer(path)
    assert _shape(layer.compute_output_shape((10, 1))) == (10, 1)
    assert layer.get_config()["handle"] == path


@SOURCES
def test_compute_output_shape_works_when_string_inputs(
    flavour, saved_model, from_keras
):
    path = saved_model(write_string_length_model, from_keras=from_keras)
    for kwargs in (dict(output_shape=(2,)), {}):
        layer = flavour.KerasLayer(path, **kwargs)
        assert _shape(layer.compute_output_shape((None, 1))) == (None, 2)
        assert _shape(layer.compute_output_shape((3, 1))) == (3, 2)


@SOURCES
def test_get_config_round_trip_gives_same_outputs(
    flavour, saved_model, from_keras
):
    path = saved_model(write_half_plus_one_model, from_keras=from_keras)
    layer = flavour.KerasLayer(path)
    x = np.array([[10.0]], np.float32)
    config = _json_cycle(layer.get_config())
    hub_keys = {"handle", "name", "trainable", "dtype"}
    assert set(config) <= hub_keys | {"batch_input_shape"}, sorted(config)
    np.testing.assert_array_equal(
        flavour.KerasLayer.from_config(config)(x), layer(x)
    )


@SOURCES
def test_model_json_round_trip_gives_same_outputs(
    flavour, saved_model, from_keras
):
    k = flavour.keras
    path = saved_model(write_half_plus_one_model, from_keras=from_keras)
    model = k.Sequential([flavour.KerasLayer(path)])
    x = np.array([[10.0]], np.float32)
    result = np.asarray(model(x))
    restored = k.models.model_from_json(
        model.to_json(), custom_objects={"KerasLayer": flavour.KerasLayer}
    )
    np.testing.assert_array_equal(restored(x), result)


def test_python_scalar_input_works_when_defaults(flavour, saved_model):
    layer = flavour.KerasLayer(saved_model(write_plus_one_model))
    assert float(layer(10.0)) == 11.0


CHOICES = pytest.mark.parametrize(
    "signature, output_key, as_dict",
    [
        (None, None, False),
        ("serving_default", None, True),
        ("serving_default", "output_0", False),
    ],
    ids=["call", "signature-dict", "signature-key"],
)


@CHOICES
def test_signature_choices_give_plus_one(
    flavour, saved_model, signature, output_key, as_dict
):
    layer = flavour.KerasLayer(
        saved_model(write_plus_one_model),
        signature=signature,
        output_key=output_key,
        signature_outputs_as_dict=as_dict,
    )
    output = layer(10.0)
    if as_dict:
        assert isinstance(output, dict), type(output)
        output = output["output_0"]
    assert float(output) == 11.0
    clone = flavour.KerasLayer.from_config(_json_cycle(layer.get_config()))
    out = clone(10.0)
    assert float(out["output_0"] if as_dict else out) == 11.0


def test_signature_skips_keras_default_call_when_given(flavour, saved_model):
    path = saved_model(write_plus_one_model, keras_default_call=True)
    layer = flavour.KerasLayer(
        path, signature="plus_one", signature_outputs_as_dict=True
    )
    assert float(layer(10.0)["output_0"]) == 11.0


def test_keras_3_saved_model_works_when_serving_default(flavour, saved_model):
    k = flavour.keras
    path = saved_model(write_keras_default_model)
    x = np.array([[1.0, 2.0]], np.float32)
    by_key = flavour.KerasLayer(
        path, signature="serving_default", output_key="output_0"
    )
    inputs = k.Input((2,))
    model = k.Model(inputs, k.layers.Dense(1)(by_key(inputs)))
    assert _shape(model.layers[1].compute_output_shape((None, 2))) == (None, 3)
    np.testing.assert_allclose(by_key(x), [[3.0, 6.0, 9.0]])
    as_dict = flavour.KerasLayer(
        path, signature="serving_default", signature_outputs_as_dict=True
    )
    np.testing.assert_allclose(as_dict(x)["output_0"], [[3.0, 6.0, 9.0]])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(signature="serving_default"),
        dict(signature_outputs_as_dict=True),
        dict(tags=["train"]),
        dict(
            signature="serving_default",
            signature_outputs_as_dict=True,
            output_key="output_0",
        ),
    ],
    ids=["no-output-choice", "dict-without-signature", "tags", "both-choices"],
)
def test_construction_fails_when_arguments_conflict(
    flavour, saved_model, kwargs
):
    with pytest.raises(ValueError):
        flavour.KerasLayer(saved_model(write_plus_one_model), **kwargs)


def test_call_fails_when_output_key_but_output_not_dict(flavour, saved_model):
    layer = flavour.KerasLayer(
        saved_model(write_plus_one_model), output_key="output_0"
    )
    with pytest.raises(ValueError, match="output_key"):
        layer(10.0)


def test_call_fails_when_trainable_signature(flavour, saved_model):
    layer = flavour.KerasLayer(
        saved_model(write_plus_one_model),
        signature="serving_default",
        signature_outputs_as_dict=True,
        trainable=True,
    )
    with pytest.raises(ValueError, match="trainable=True"):
        layer(10.0)


def test_keras_file_round_trip_when_dict_and_list_outputs(
    saved_model, tmp_path
):
    import keras

    import imagehub

    inputs = dict(x=keras.Input((1,)), y=keras.Input((1,)))
    out = imagehub.KerasLayer(
        saved_model(write_dict_io_model), arguments=dict(return_dict=True)
    )(inputs)
    listed = imagehub.KerasLayer(
        saved_model(write_list_output_model),
        output_shape=[[1], [2, 2], [3, 3, 3]],
    )(out["delta"])
    model = keras.Model(inputs, dict(sigma=out["sigma"], double=listed[1]))
    path = str(tmp_path / "structures.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    x = np.array([[3.0], [5.0]], np.float32)
    data = dict(x=x, y=2 * x)
    got, expected = restored(data), model(data)
    assert set(got) == {"sigma", "double"}, set(got)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
    np.testing.assert_allclose(
        got["double"], np.full((2, 2, 2), -2.0) * x[:, :, None]
    )


def test_tags_load_and_stay_in_config_when_given(flavour, saved_model):
    layer = flavour.KerasLayer(
        saved_model(write_plus_one_model), tags=["serve"]
    )
    assert float(layer(1.0)) == 2.0
    config = _json_cycle(layer.get_config())
    assert config["tags"] == ["serve"], config
    assert float(flavour.KerasLayer.from_config(config)(1.0)) == 2.0
