"""A MobileNetV3Small exported by `imagehub export`, wrapped and fine-tuned.

Exporting takes one to two minutes on a shared CPU, so the whole file is
marked slow (`make test-all` runs it). Random weights (no download): the
behaviour under test does not depend on them.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import imagehub
from imagehub.testing import run_cli

pytestmark = pytest.mark.slow

SIZE = 32


@pytest.fixture(scope="module")
def mobilenet_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("keras") / "mobilenet_v3_small")
    result = run_cli(
        "export",
        "--arch",
        "MobileNetV3Small",
        "--weights",
        "none",
        "--image_size",
        str(SIZE),
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((8, SIZE, SIZE, 3), dtype=np.float32)
    return x, rng.integers(0, 2, size=8)


def _model(layer):
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            layer,
            keras.layers.Dropout(0.2),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _values(layer):
    return {w.value.name: w.numpy().copy() for w in layer.weights}


@pytest.fixture(scope="module")
def fine_tuned(mobilenet_dir, data):
    x, y = data
    layer = imagehub.KerasLayer(mobilenet_dir, trainable=True)
    model = _model(layer)
    before = _values(layer)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    return layer, model, before, _values(layer)


def test_mobilenet_output_shape_from_card(mobilenet_dir):
    layer = imagehub.KerasLayer(mobilenet_dir)
    assert layer.model_card.num_features == 576
    assert layer.compute_output_shape((None, SIZE, SIZE, 3)) == (None, 576)
    obj = layer._loaded_obj
    assert len(layer.trainable_weights) == 0
    layer.trainable = True
    assert len(layer.trainable_weights) == len(obj.trainable_variables)


def test_mobilenet_frozen_keeps_every_variable_when_fit(mobilenet_dir, data):
    x, y = data
    layer = imagehub.KerasLayer(mobilenet_dir)
    before = _values(layer)
    _model(layer).fit(x, y, epochs=1, batch_size=4, verbose=0)
    moved = [n for n, v in _values(layer).items() if not (v == before[n]).all()]
    assert moved == [], f"frozen layer changed {moved[:5]}"


def test_mobilenet_trainable_changes_variables_when_fit(fine_tuned):
    layer, _, before, after = fine_tuned
    trainable = {w.value.name for w in layer.trainable_weights}
    # Exact comparison: with random weights some gradients are ~1e-8.
    unchanged = [n for n in trainable if (before[n] == after[n]).all()]
    assert unchanged == [], f"fine-tuning left {unchanged[:5]} unchanged"
    stats = [n for n in before if "moving_mean" in n]
    assert stats, "no batch-norm statistics found"
    still = [n for n in stats if (before[n] == after[n]).all()]
    assert still == [], f"batch-norm statistics {still[:5]} did not move"


def test_mobilenet_losses_equal_saved_model_when_trainable(mobilenet_dir, data):
    x, _ = data
    obj = tf.saved_model.load(mobilenet_dir)
    expected = [float(fn()) for fn in obj.regularization_losses]
    for trainable in (False, True):
        model = _model(imagehub.KerasLayer(mobilenet_dir, trainable=trainable))
        model(x[:1])
        got = [float(v) for v in model.losses]
        want = expected if trainable else []
        np.testing.assert_allclose(got, want, err_msg=f"{trainable=}")


def test_mobilenet_arguments_change_training_result(mobilenet_dir, data):
    x, _ = data
    means = []
    for arguments in (None, dict(batch_norm_momentum=0.5)):
        layer = imagehub.KerasLayer(
            mobilenet_dir, trainable=True, arguments=arguments
        )
        layer(x, training=True)
        means.append(
            next(w for w in layer.weights if "moving_mean" in w.name).numpy()
        )
    assert not np.allclose(*means), "batch_norm_momentum had no effect"


def test_mobilenet_keras_round_trip_identical(fine_tuned, data, tmp_path):
    x, _ = data
    _, model, _, _ = fine_tuned
    path = str(tmp_path / "mobilenet.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        restored.predict(x, verbose=0), model.predict(x, verbose=0)
    )


def test_mobilenet_model_export_reproduces_outputs(fine_tuned, data, tmp_path):
    x, _ = data
    _, model, _, _ = fine_tuned
    path = str(tmp_path / "exported")
    model.export(path, verbose=False)
    reloaded = tf.saved_model.load(path)
    np.testing.assert_allclose(
        reloaded.serve(tf.constant(x)).numpy(),
        model.predict(x, verbose=0),
        rtol=1e-4,
        atol=1e-5,
    )
