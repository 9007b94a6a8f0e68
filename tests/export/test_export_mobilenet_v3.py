"""MobileNetV3Small (random weights), exported once at 96x96."""

import numpy as np
import pytest
import tensorflow as tf

from imagehub.export import arch_options
from imagehub.export import build_arch
from imagehub.export import export_feature_vector
from imagehub.spec import SIGNATURE_FLOAT
from imagehub.spec import read_card
from imagehub.testing import assert_reusable

SIZE = 96


def _images(n=2, size=SIZE, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3), np.float32)


@pytest.fixture(scope="module")
def source():
    return build_arch("MobileNetV3Small", weights="none")


@pytest.fixture(scope="module")
def exported(source, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("mnv3") / "model")
    options = arch_options("mobilenetv3small", weights="none")
    options["image_size"] = (SIZE, SIZE)
    export_feature_vector(source, path, **options)
    return path


def test_mobilenet_v3_call_equals_source(source, exported):
    obj = tf.saved_model.load(exported)
    for size in (SIZE, 64):
        x = _images(2, size)
        # MobileNetV3 rescales [0, 255] itself; preprocess_input is identity.
        want = source(x * 255.0, training=False).numpy()
        np.testing.assert_allclose(
            obj(x).numpy(), want, atol=1e-5, err_msg=f"at {size}x{size}"
        )


def test_mobilenet_v3_is_conforming_with_momentum_override(exported):
    assert_reusable(exported, "feature_vector", 576)
    card = read_card(exported)
    assert card.min_size == (32, 32) and not card.fixed_size
    assert set(card.hparams) == {"batch_norm_momentum"}, card.hparams
    assert card.source.startswith("keras.applications.MobileNetV3Small")


@pytest.mark.slow
def test_mobilenet_v3_tflite_matches_within_1e_4(exported):
    converter = tf.lite.TFLiteConverter.from_saved_model(
        exported, signature_keys=[SIGNATURE_FLOAT]
    )
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    runner = interpreter.get_signature_runner(SIGNATURE_FLOAT)
    x = _images(1)
    got = runner(images=x)["feature_vector"]
    want = tf.saved_model.load(exported)(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
