"""A tiny Keras feature-vector model, exported once, against SPEC R, I, F, M."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from imagehub.export import export_feature_vector
from imagehub.spec import SIGNATURE_BYTES
from imagehub.spec import SIGNATURE_FLOAT
from imagehub.spec import read_card
from imagehub.testing import tiny_keras_model

SIZE = 16


def _images(n=2, h=SIZE, w=SIZE, seed=0):
    return np.random.default_rng(seed).random((n, h, w, 3), dtype=np.float32)


@pytest.fixture(scope="module")
def source():
    return tiny_keras_model(output_dropout=0.5)


@pytest.fixture(scope="module")
def exported(source, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("fv") / "model")
    export_feature_vector(
        source, path, image_size=SIZE, input_range=(-1, 1), license="MIT"
    )
    return path


def test_call_equals_source_when_scaled_as_source_expects(source, exported):
    obj = tf.saved_model.load(exported)
    for h, w in ((SIZE, SIZE), (20, 28)):
        x = _images(3, h, w)
        got = obj(x).numpy()
        want = source(x * 2.0 - 1.0, training=False).numpy()
        np.testing.assert_allclose(
            got, want, atol=1e-5, err_msg=f"__call__ != source at {h}x{w}"
        )


def test_traces_cover_training_and_leave_batch_and_size_undefined(exported):
    obj = tf.saved_model.load(exported)
    traces = obj.__call__.concrete_functions
    seen = set()
    for fn in traces:
        args, kwargs = fn.structured_input_signature
        spec = args[0]
        assert spec.shape.as_list() == [None, None, None, 3], spec
        seen.add(kwargs.get("training", args[1] if len(args) > 1 else None))
    assert seen == {False, True}, f"training traces: {seen}"
    x = _images(5, 9, 11)
    assert obj(x).shape == (5, 8)
    assert obj(x, training=True).shape == (5, 8)


def test_variables_exclude_moving_statistics_from_trainable(exported):
    obj = tf.saved_model.load(exported)
    names = [v.name for v in obj.variables]
    trainable = [v.name for v in obj.trainable_variables]
    assert set(trainable) <= set(names)
    assert all(v.trainable for v in obj.trainable_variables)
    assert any("moving_mean" in n for n in names), names
    assert not any("moving" in n for n in trainable), trainable
    assert any("conv1" in n and "kernel" in n for n in trainable), trainable


def test_regularization_losses_match_keras(source, exported):
    obj = tf.saved_model.load(exported)
    losses = [float(fn()) for fn in obj.regularization_losses]
    want = sorted(float(v) for v in source.losses)
    assert len(losses) == 1, losses
    np.testing.assert_allclose(sorted(losses), want, rtol=1e-6)


def test_card_describes_model(exported):
    card = read_card(exported)
    assert card is not None
    assert card.task == "feature_vector"
    assert card.num_features == 8
    assert card.default_size == (SIZE, SIZE)
    assert card.fixed_size is False
    assert card.min_size is not None and card.min_size[0] <= 4
    assert card.input_range == (0.0, 1.0)
    assert card.hparams == {"batch_norm_momentum": 0.99, "dropout_rate": 0.25}
    assert card.license == "MIT"
    assert set(card.signatures) == {SIGNATURE_FLOAT, SIGNATURE_BYTES}


def test_overrides_change_training_mode_only(exported):
    x = _images(4)
    obj = tf.saved_model.load(exported)
    base = obj(x).numpy()
    for kwargs in (
        {"dropout_rate": 0.9},
        {"batch_norm_momentum": 0.0},
        {"batch_norm_momentum": 0.5, "dropout_rate": 0.7},
    ):
        np.testing.assert_allclose(
            obj(x, **kwargs).numpy(), base, err_msg=f"inference {kwargs}"
        )
    # Dropout: rate 0 is deterministic in training, 0.9 is not.
    a = obj(x, training=True, dropout_rate=0.0).numpy()
    b = obj(x, training=True, dropout_rate=0.0).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6, err_msg="rate 0 random")
    c = obj(x, training=True, dropout_rate=0.9).numpy()
    assert np.abs(c - a).max() > 1e-3, "dropout_rate=0.9 changed nothing"
    # Momentum: 1.0 keeps the moving statistics, 0.0 replaces them.
    mean = next(v for v in obj.variables if "moving_mean" in v.name)
    before = mean.numpy().copy()
    obj(x, training=True, batch_norm_momentum=1.0)
    np.testing.assert_allclose(mean.numpy(), before, err_msg="momentum 1")
    obj(x, training=True, batch_norm_momentum=0.0)
    assert np.abs(mean.numpy() - before).max() > 1e-4, "momentum 0"


def test_no_dropout_on_output_in_training(tmp_path):
    import keras

    # The only dropout is on the output: the export must leave it out (F3),
    # so training mode is deterministic and equals Keras without dropout.
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, padding="same")(inputs)
    features = keras.layers.GlobalAveragePooling2D()(x)
    dropped = keras.layers.Dropout(0.5)(features)
    path = str(tmp_path / "m")
    export_feature_vector(keras.Model(inputs, dropped), path, image_size=8)
    obj = tf.saved_model.load(path)
    x = _images(4, 8, 8)
    a = obj(x, training=True).numpy()
    b = obj(x, training=True).numpy()
    want = keras.Model(inputs, features)(x).numpy()
    np.testing.assert_allclose(a, want, atol=1e-6, err_msg="output dropped")
    np.testing.assert_allclose(b, want, atol=1e-6, err_msg="output dropped")
    assert "dropout_rate" not in read_card(path).hparams


def test_serving_default_has_static_size(exported):
    obj = tf.saved_model.load(exported)
    fn = obj.signatures[SIGNATURE_FLOAT]
    spec = fn.structured_input_signature[1]["images"]
    assert spec.shape.as_list() == [None, SIZE, SIZE, 3]
    out = fn(images=tf.constant(_images(2)))["feature_vector"]
    np.testing.assert_allclose(out.numpy(), obj(_images(2)).numpy(), atol=1e-6)


def test_image_bytes_equal_call_on_decoded_resized_jpeg(exported, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    pixels = (rng.random((40, 30, 3)) * 255).astype(np.uint8)
    path = tmp_path / "x.jpg"
    Image.fromarray(pixels).save(path, quality=90)
    data = path.read_bytes()
    obj = tf.saved_model.load(exported)
    got = obj.signatures[SIGNATURE_BYTES](
        image_bytes=tf.constant([data, data])
    )["feature_vector"].numpy()
    image = tf.image.convert_image_dtype(tf.io.decode_jpeg(data), tf.float32)
    image = tf.image.resize(image, (SIZE, SIZE))[tf.newaxis]
    want = obj(image).numpy()
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    np.testing.assert_allclose(got[1], want[0], atol=1e-5)


def test_resave_of_loaded_keeps_card_and_outputs(exported, tmp_path):
    obj = tf.saved_model.load(exported)
    again = str(tmp_path / "again")
    tf.saved_model.save(obj, again)
    assert os.path.isfile(os.path.join(again, "assets", "imagehub.json"))
    with open(os.path.join(again, "assets", "imagehub.json")) as f:
        assert json.load(f)["num_features"] == 8
    x = _images(2)
    np.testing.assert_allclose(
        tf.saved_model.load(again)(x).numpy(), obj(x).numpy(), atol=1e-6
    )


def test_tflite_serving_default_matches_within_1e_4(exported):
    converter = tf.lite.TFLiteConverter.from_saved_model(
        exported, signature_keys=[SIGNATURE_FLOAT]
    )
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    runner = interpreter.get_signature_runner(SIGNATURE_FLOAT)
    x = _images(1)
    got = runner(images=x)["feature_vector"]
    want = tf.saved_model.load(exported)(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_tfsmlayer_runs_serving_default(exported):
    import keras

    layer = keras.layers.TFSMLayer(exported, call_endpoint=SIGNATURE_FLOAT)
    x = _images(2)
    got = layer(x)["feature_vector"]
    want = tf.saved_model.load(exported)(x).numpy()
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)


def test_conformance_checker_passes_every_rule(exported):
    from imagehub.check import check

    report = check(exported)
    failed = [r for r in report.results if r.status == "FAIL"]
    assert report.exit_code == 0, failed or report.error
