"""Saving: `.keras` round trip, `model.export()`, ExportArchive."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import imagehub


@pytest.fixture(scope="module")
def fine_tuned(tiny_dir):
    """A Sequential fine-tuned so its weights differ from the handle's."""
    rng = np.random.default_rng(1)
    x = rng.random((8, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 3, size=8)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            imagehub.KerasLayer(
                tiny_dir,
                trainable=True,
                arguments=dict(batch_norm_momentum=0.9),
            ),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    return model, x


def test_keras_file_round_trip_gives_identical_outputs(
    fine_tuned, tiny_dir, tmp_path
):
    model, x = fine_tuned
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        restored.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    layer = restored.layers[0]
    assert isinstance(layer, imagehub.KerasLayer), type(layer)
    assert layer.trainable and layer.handle == os.fspath(tiny_dir)
    assert layer.arguments == dict(batch_norm_momentum=0.9)
    # The fine-tuned values came from the file, not from the handle.
    original = tf.saved_model.load(tiny_dir).variables[0].numpy()
    assert not np.allclose(layer.resolved_object.variables[0].numpy(), original)


def test_get_config_fails_clearly_when_object_handle(tiny_dir):
    layer = imagehub.KerasLayer(tf.saved_model.load(tiny_dir))
    with pytest.raises(NotImplementedError, match="handle string"):
        layer.get_config()


def test_from_config_rebuilds_layer_when_config_given(tiny_dir):
    layer = imagehub.KerasLayer(
        tiny_dir, signature="serving_default", output_key="feature_vector"
    )
    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"] == "imagehub>KerasLayer", config
    clone = keras.saving.deserialize_keras_object(config)
    assert clone.get_config() == layer.get_config()


def test_model_export_carries_fine_tuned_variables(fine_tuned, tmp_path):
    model, x = fine_tuned
    path = str(tmp_path / "exported")
    model.export(path, verbose=False)
    reloaded = tf.saved_model.load(path)
    np.testing.assert_allclose(
        reloaded.serve(tf.constant(x)).numpy(),
        model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
    saved = {v.name: v.numpy() for v in reloaded.variables}
    for weight in model.layers[0].weights:
        name = weight.value.name
        assert name in saved, f"{name} missing from the export"
        np.testing.assert_array_equal(saved[name], weight.numpy())


def test_export_archive_works_when_layer_tracked(fine_tuned, tmp_path):
    model, x = fine_tuned
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "features",
        lambda images: model.layers[0](images),
        input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32)],
    )
    path = str(tmp_path / "archive")
    archive.write_out(path, verbose=False)
    reloaded = tf.saved_model.load(path)
    np.testing.assert_allclose(
        reloaded.features(tf.constant(x)).numpy(),
        model.layers[0](x).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_export_classifier_works_when_model_holds_layer(fine_tuned, tmp_path):
    model, x = fine_tuned
    path = imagehub.export_classifier(
        model, str(tmp_path / "classifier"), labels=["a", "b", "c"]
    )
    reloaded = tf.saved_model.load(path)
    np.testing.assert_allclose(
        reloaded(tf.constant(x)).numpy(),
        model.predict(x, verbose=0),
        rtol=1e-4,
        atol=1e-5,
    )
    # The wrapped SavedModel's variables and losses travel on (R5-R7).
    names = {v.name for v in reloaded.trainable_variables}
    assert "conv1/kernel:0" in names, sorted(names)
    assert len(reloaded.regularization_losses) == 2
