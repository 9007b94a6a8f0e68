"""Models saved by tf_keras with tensorflow_hub's `hub.KerasLayer`, loaded
with imagehub's layers (the README's migration section), and the layers'
configs against `hub.KerasLayer`'s.

The tf_keras model holds a fine-tuned `hub.KerasLayer` (a string-input
SavedModel) and a Dense head, so a load that fell back to the handle's
weights would give other outputs.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

import imagehub
from imagehub.testing import write_dict_io_model
from imagehub.testing import write_half_plus_one_model
from imagehub.testing import write_hparams_model
from imagehub.testing import write_list_output_model
from imagehub.testing import write_plus_one_model
from imagehub.testing import write_string_length_model

hub = pytest.importorskip("tensorflow_hub")
tf_keras = pytest.importorskip("tf_keras")

TEXT = tf.constant([["abc"], ["a"], ["hello"]])


@pytest.fixture(scope="module")
def old_model(tmp_path_factory):
    """(tf_keras model with a fine-tuned hub.KerasLayer, its outputs,
    the folder its files are saved in: old.h5, old.keras, old_saved_model)."""
    root = tmp_path_factory.mktemp("migration")
    handle = write_string_length_model(root / "string_length")
    inputs = tf_keras.Input((1,), dtype=tf.string)
    layer = hub.KerasLayer(handle, trainable=True)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(layer(inputs)))
    model.compile(tf_keras.optimizers.SGD(0.01), "mse")
    model.fit(TEXT, np.array([[1.0], [2.0], [3.0]]), epochs=2, verbose=0)
    before = tf.saved_model.load(handle).variables[0].numpy()
    assert not np.allclose(layer.weights[0].numpy(), before), "not tuned"
    model.save(str(root / "old.h5"))
    model.save(str(root / "old.keras"))
    model.save(str(root / "old_saved_model"))
    return model, model(TEXT).numpy(), root


def test_h5_file_loads_in_keras_3_when_custom_object_given(old_model, tmp_path):
    import keras

    _, expected, root = old_model
    restored = keras.saving.load_model(
        str(root / "old.h5"),
        custom_objects={"KerasLayer": imagehub.KerasLayer},
        compile=False,
    )
    np.testing.assert_allclose(restored(TEXT), expected, rtol=1e-6)
    # Re-saved, it is an ordinary Keras 3 file.
    restored.save(str(tmp_path / "new.keras"))
    again = keras.saving.load_model(str(tmp_path / "new.keras"))
    np.testing.assert_allclose(again(TEXT), expected, rtol=1e-6)


def test_keras_file_reaches_keras_3_when_resaved_as_h5_by_tf_keras(
    old_model, tmp_path
):
    import keras

    from imagehub.keras.tf_keras import KerasLayer

    _, expected, root = old_model
    restored = tf_keras.models.load_model(
        str(root / "old.keras"), custom_objects={"KerasLayer": KerasLayer}
    )
    assert isinstance(restored.layers[1], KerasLayer), restored.layers
    np.testing.assert_allclose(restored(TEXT), expected, rtol=1e-6)
    restored.save(str(tmp_path / "bridge.h5"))
    in_keras_3 = keras.saving.load_model(
        str(tmp_path / "bridge.h5"),
        custom_objects={"KerasLayer": imagehub.KerasLayer},
        compile=False,
    )
    np.testing.assert_allclose(in_keras_3(TEXT), expected, rtol=1e-6)


def test_saved_model_folder_wraps_in_keras_3_when_used_as_handle(old_model):
    import keras

    _, expected, root = old_model
    inputs = keras.Input((1,), dtype="string")
    layer = imagehub.KerasLayer(str(root / "old_saved_model"))
    model = keras.Model(inputs, layer(inputs))
    np.testing.assert_allclose(model(TEXT), expected, rtol=1e-6)


CONFIGS = [
    (write_half_plus_one_model, {}),
    (write_hparams_model, dict(arguments=dict(a=2.0), trainable=True)),
    (write_list_output_model, dict(output_shape=[[1], [2, 2], [3, 3, 3]])),
    (write_dict_io_model, dict(output_shape=dict(sigma=[2], delta=[1]))),
    (
        write_plus_one_model,
        dict(signature="serving_default", output_key="output_0"),
    ),
    (
        write_plus_one_model,
        dict(signature="serving_default", signature_outputs_as_dict=True),
    ),
]


@pytest.mark.parametrize(
    "writer, kwargs",
    CONFIGS,
    ids=["plain", "arguments", "list-shapes", "dict-shapes", "key", "as-dict"],
)
def test_config_equals_hub_config_when_same_arguments(
    saved_model, writer, kwargs
):
    from imagehub.keras.tf_keras import KerasLayer

    path = saved_model(writer)
    theirs = hub.KerasLayer(path, name="layer", **kwargs).get_config()
    ours = KerasLayer(path, name="layer", **kwargs).get_config()
    assert ours == theirs
    # And Keras 3's, but for the base Layer's own entries (dtype policy).
    keras3 = json.loads(
        json.dumps(imagehub.KerasLayer(path, **kwargs).get_config())
    )
    mine = {k: v for k, v in keras3.items() if k not in ("name", "dtype")}
    hubs = json.loads(json.dumps(theirs))
    assert mine == {k: v for k, v in hubs.items() if k not in ("name", "dtype")}
