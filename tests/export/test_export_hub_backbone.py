"""The retrain path: imagehub.KerasLayer backbone + Dropout + Dense(softmax).

Skipped until `imagehub.keras` is in the tree (it lands from another
branch); then it checks that the backbone's overrides and regularization
losses carry over into the exported classifier.
"""

import numpy as np
import pytest
import tensorflow as tf

keras_layer_module = pytest.importorskip("imagehub.keras")

import keras  # noqa: E402

from imagehub.export import export_classifier  # noqa: E402
from imagehub.spec import read_card  # noqa: E402
from imagehub.testing import assert_reusable  # noqa: E402
from imagehub.testing import write_tiny_model  # noqa: E402

SIZE = 16


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("hubbackbone")
    backbone = write_tiny_model(str(root / "fv"), image_size=SIZE)
    inputs = keras.Input((SIZE, SIZE, 3))
    layer = keras_layer_module.KerasLayer(backbone, trainable=True)
    x = keras.layers.Dropout(0.2)(layer(inputs))
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    path = str(root / "cls")
    export_classifier(model, path, labels=["a", "b", "c"], activation="softmax")
    return model, path


def test_hub_backbone_classifier_exports_logits(exported):
    model, path = exported
    assert_reusable(path, "classification", 3)
    x = np.random.default_rng(0).random((4, SIZE, SIZE, 3), np.float32)
    logits = tf.saved_model.load(path)(x).numpy()
    np.testing.assert_allclose(
        tf.nn.softmax(logits).numpy(), model(x).numpy(), atol=1e-5
    )


def test_hub_backbone_overrides_and_losses_carry_over(exported):
    _, path = exported
    card = read_card(path)
    assert set(card.hparams) == {"batch_norm_momentum", "dropout_rate"}
    obj = tf.saved_model.load(path)
    assert len(obj.regularization_losses) == 2, "backbone's L2 losses"
    x = np.random.default_rng(1).random((4, SIZE, SIZE, 3), np.float32)
    mean = next(v for v in obj.variables if "moving_mean" in v.name)
    before = mean.numpy().copy()
    obj(x, training=True, batch_norm_momentum=1.0)
    np.testing.assert_allclose(mean.numpy(), before, err_msg="momentum 1")
    obj(x, training=True, batch_norm_momentum=0.0)
    assert np.abs(mean.numpy() - before).max() > 1e-4, "momentum 0 no-op"
