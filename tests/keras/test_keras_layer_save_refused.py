"""A model that cannot be saved fails before any file is written."""

import os

import keras
import pytest
import tensorflow as tf

import imagehub

OLD_BYTES = b"an older model file that must survive\n"


@pytest.fixture(scope="module")
def object_model(tiny_dir):
    """A model whose KerasLayer wraps a loaded object (no handle)."""
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            imagehub.KerasLayer(tf.saved_model.load(tiny_dir), name="hub"),
            keras.layers.Dense(3),
        ]
    )


@pytest.mark.parametrize("name", ["model.keras", "model.h5"])
def test_save_leaves_no_file_when_layer_wraps_object(
    object_model, tmp_path, name
):
    path = tmp_path / name
    with pytest.raises(NotImplementedError, match="handle string") as info:
        object_model.save(str(path))
    assert "'hub'" in str(info.value), "the layer is not named"
    assert not path.exists(), f"a partial {name} was left behind"
    assert os.listdir(tmp_path) == [], os.listdir(tmp_path)


def test_save_keeps_older_file_bytes_when_layer_wraps_object(
    object_model, tmp_path
):
    path = tmp_path / "model.keras"
    path.write_bytes(OLD_BYTES)
    with pytest.raises(NotImplementedError, match="Nothing was written"):
        keras.saving.save_model(object_model, str(path))
    assert path.read_bytes() == OLD_BYTES, "the older file was overwritten"


def test_save_creates_no_directory_when_unzipped_and_object(
    object_model, tmp_path
):
    path = tmp_path / "model_dir"
    with pytest.raises(NotImplementedError):
        object_model.save(str(path), zipped=False)
    assert not path.exists()


def test_save_refuses_when_object_layer_is_in_nested_model(
    object_model, tmp_path
):
    outer = keras.Sequential([keras.Input((16, 16, 3)), object_model])
    path = tmp_path / "outer.keras"
    with pytest.raises(NotImplementedError, match="'hub'"):
        outer.save(str(path))
    assert not path.exists()


def test_save_still_writes_when_layer_has_handle(tiny_dir, tmp_path):
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), imagehub.KerasLayer(tiny_dir)]
    )
    path = tmp_path / "model.keras"
    path.write_bytes(OLD_BYTES)
    model.save(str(path))
    assert path.read_bytes() != OLD_BYTES
    restored = keras.saving.load_model(str(path))
    assert restored.layers[0].handle == os.fspath(tiny_dir)


@pytest.mark.parametrize("name", ["model.keras", "model.h5"])
def test_tf_keras_save_keeps_older_file_when_layer_wraps_object(
    tiny_dir, tmp_path, name
):
    tf_keras = pytest.importorskip("tf_keras")
    from imagehub.keras.tf_keras import KerasLayer

    model = tf_keras.Sequential(
        [
            tf_keras.Input((16, 16, 3)),
            KerasLayer(tf.saved_model.load(tiny_dir)),
        ]
    )
    path = tmp_path / name
    path.write_bytes(OLD_BYTES)
    with pytest.raises(NotImplementedError, match="handle string"):
        model.save(str(path))
    assert path.read_bytes() == OLD_BYTES, f"{name} was overwritten"
    new_path = tmp_path / f"new_{name}"
    with pytest.raises(NotImplementedError, match="handle string"):
        model.save(str(new_path))
    assert not new_path.exists(), f"a partial {name} was left behind"
