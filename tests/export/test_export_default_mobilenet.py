"""The demo's export: MobileNet V1 0.25 with the vendored ImageNet weights."""

import os

import h5py
import numpy as np
import pytest
import tensorflow as tf

from imagehub.export import arch_options
from imagehub.export import build_arch
from imagehub.export import export_feature_vector
from imagehub.spec import read_card
from imagehub.testing import run_cli

WEIGHTS = os.path.join(
    os.path.dirname(__file__),
    "..",
    "..",
    "imagehub",
    "_default",
    "weights",
    "mobilenet_2_5_224_tf_no_top.h5",
)
FLOWERS = os.path.join(os.path.dirname(WEIGHTS), "..", "flowers", "daisy")


def _flowers(size, count=3):
    names = sorted(os.listdir(FLOWERS))[:count]
    images = []
    for name in names:
        with open(os.path.join(FLOWERS, name), "rb") as f:
            image = tf.io.decode_jpeg(f.read(), channels=3)
        image = tf.image.convert_image_dtype(image, tf.float32)
        images.append(tf.image.resize(image, size))
    return tf.stack(images).numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = build_arch("mobilenet", alpha=0.25, weights=WEIGHTS)
    path = str(tmp_path_factory.mktemp("mn") / "model")
    options = arch_options("mobilenet", alpha=0.25, weights=WEIGHTS)
    export_feature_vector(model, path, **options)
    return model, path


def test_default_mobilenet_has_256_finite_deterministic_features(exported):
    model, path = exported
    card = read_card(path)
    assert card.num_features == 256
    assert card.default_size == (224, 224) and not card.fixed_size
    assert card.license.startswith("Apache-2.0"), card.license
    obj = tf.saved_model.load(path)
    x = _flowers((224, 224))
    a = obj(x).numpy()
    b = obj(x).numpy()
    assert a.shape == (3, 256)
    assert np.all(np.isfinite(a)), "non-finite features"
    np.testing.assert_array_equal(a, b, err_msg="not deterministic")
    assert a.std() > 1e-3, "features are constant"
    # [0, 1] in, MobileNet's own [-1, 1] scaling inside (I2).
    want = model(x * 2.0 - 1.0).numpy()
    np.testing.assert_allclose(a, want, atol=1e-5)


def test_default_mobilenet_carries_the_file_weights(exported):
    _, path = exported
    obj = tf.saved_model.load(path)
    with h5py.File(WEIGHTS, "r") as f:
        kernel = np.asarray(f["conv1"]["conv1"]["kernel:0"])
    conv1 = [v for v in obj.variables if tuple(v.shape) == kernel.shape]
    assert conv1, "no variable of conv1's shape"
    np.testing.assert_array_equal(conv1[0].numpy(), kernel)


@pytest.mark.slow
def test_cli_demo_export_command(tmp_path):
    out = str(tmp_path / "fv")
    result = run_cli(
        "export",
        "--task",
        "feature_vector",
        "--arch",
        "mobilenet",
        "--alpha",
        "0.25",
        "--weights",
        WEIGHTS,
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr
    assert "256 features" in result.stdout, result.stdout
    features = tf.saved_model.load(out)(_flowers((160, 160))).numpy()
    assert features.shape == (3, 256) and np.all(np.isfinite(features))
