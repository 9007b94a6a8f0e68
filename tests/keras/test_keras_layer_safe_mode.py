"""Keras safe mode: a layer rebuilt from a config scans its SavedModel."""

import os

import keras
import numpy as np
import pytest

import imagehub
from imagehub.testing import write_broken_model
from imagehub.testing import write_file_writing_model


def _save_keras_file(handle, path):
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), imagehub.KerasLayer(handle)]
    )
    model.save(path)
    return model


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("safe_mode")


@pytest.fixture(scope="module")
def writer(root):
    """A .keras file whose layer's SavedModel writes `target` when loaded."""
    target = root / "written_by_model.txt"
    model_dir = write_file_writing_model(str(root / "writer"), target)
    keras_file = str(root / "writer.keras")
    _save_keras_file(model_dir, keras_file)  # Loading it wrote target.
    os.remove(target)
    return model_dir, keras_file, target


@pytest.fixture(scope="module")
def reader(root):
    """A .keras file whose layer's SavedModel hides ReadFile in __call__."""
    model_dir = write_broken_model(
        str(root / "reader"), "read_file_nested_function"
    )
    keras_file = str(root / "reader.keras")
    _save_keras_file(model_dir, keras_file)
    return model_dir, keras_file


def test_load_model_refuses_file_writing_model_when_safe_mode(writer):
    model_dir, keras_file, target = writer
    with pytest.raises(ValueError) as info:
        keras.saving.load_model(keras_file)
    message = str(info.value)
    assert model_dir in message, f"the handle is not named: {message}"
    assert "WriteFile" in message, f"the finding is not named: {message}"
    assert "safe_mode=False" in message, f"no fix named: {message}"
    assert not target.exists(), "the SavedModel ran although refused"


def test_load_model_refuses_read_file_when_hidden_in_call(reader):
    model_dir, keras_file = reader
    with pytest.raises(ValueError, match="ReadFile") as info:
        keras.saving.load_model(keras_file, safe_mode=True)
    assert model_dir in str(info.value)


def test_load_model_loads_dangerous_model_when_safe_mode_off(writer):
    _, keras_file, target = writer
    try:
        model = keras.saving.load_model(keras_file, safe_mode=False)
        assert isinstance(model.layers[0], imagehub.KerasLayer)
        assert target.exists(), "safe_mode=False did not load the model"
    finally:
        if target.exists():
            os.remove(target)


def test_load_model_loads_clean_model_when_safe_mode(tiny_dir, tmp_path):
    path = str(tmp_path / "clean.keras")
    model = _save_keras_file(tiny_dir, path)
    x = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )


def test_from_config_scans_when_called_outside_a_load(writer):
    model_dir, _, target = writer
    config = {"handle": model_dir, "name": "outside"}
    with pytest.raises(ValueError, match="WriteFile"):
        imagehub.KerasLayer.from_config(config)
    assert not target.exists()


def test_from_config_skips_scan_when_safe_mode_false(reader):
    model_dir, _ = reader
    layer = imagehub.KerasLayer.from_config(
        {"handle": model_dir}, safe_mode=False
    )
    assert layer.handle == model_dir


def test_layers_deserialize_refuses_when_safe_mode_default(reader):
    model_dir, _ = reader
    config = keras.saving.serialize_keras_object(
        imagehub.KerasLayer.from_config({"handle": model_dir}, safe_mode=False)
    )
    with pytest.raises(ValueError, match="ReadFile"):
        keras.saving.deserialize_keras_object(config)
    layer = keras.saving.deserialize_keras_object(config, safe_mode=False)
    assert isinstance(layer, imagehub.KerasLayer)


def test_constructor_never_scans_when_user_builds_layer(reader):
    model_dir, _ = reader
    layer = imagehub.KerasLayer(model_dir)
    assert layer.handle == model_dir


def test_tf_keras_from_config_refuses_when_safe_mode(reader):
    tf_keras_layer = pytest.importorskip("imagehub.keras.tf_keras")
    model_dir, _ = reader
    with pytest.raises(ValueError, match="ReadFile"):
        tf_keras_layer.KerasLayer.from_config({"handle": model_dir})
    layer = tf_keras_layer.KerasLayer.from_config(
        {"handle": model_dir}, safe_mode=False
    )
    assert layer.handle == model_dir
