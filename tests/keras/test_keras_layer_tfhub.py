"""The real TF Hub classifier (MobileNet V1 0.25, 128x128, 1001 logits).

It has no model card: the output shape and the accepted arguments come from
its traced `__call__`. Tests that fit it take 10-20 s each on a shared CPU,
so they are marked slow (`make test-all` runs them).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import imagehub
from imagehub.testing import TFHUB_CLASSIFIER_DIR


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((4, 128, 128, 3), dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    return x, y


@pytest.fixture(scope="module")
def hub_obj():
    """Loaded once; the fast tests below never run it in training mode."""
    return tf.saved_model.load(TFHUB_CLASSIFIER_DIR)


def _model(layer):
    model = keras.Sequential(
        [keras.Input((128, 128, 3)), layer, keras.layers.Dense(2)]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _values(layer):
    return {w.value.name: w.numpy().copy() for w in layer.weights}


@pytest.fixture(scope="module")
def fine_tuned(data):
    """(layer, model, values before fit, values after one fit epoch)."""
    x, y = data
    layer = imagehub.KerasLayer(
        TFHUB_CLASSIFIER_DIR,
        trainable=True,
        arguments=dict(batch_norm_momentum=0.9),
    )
    model = _model(layer)
    before = _values(layer)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    return layer, model, before, _values(layer)


def test_output_shape_from_traces_when_no_card(hub_obj):
    layer = imagehub.KerasLayer(hub_obj)
    assert layer.model_card is None
    assert layer.compute_output_shape((None, 128, 128, 3)) == (None, 1001)
    assert len(layer.weights) == 137, len(layer.weights)


def test_outputs_equal_direct_call_when_frozen(hub_obj, data):
    x, _ = data
    layer = imagehub.KerasLayer(hub_obj)
    np.testing.assert_allclose(layer(x), hub_obj(x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_frozen_keeps_every_variable_when_fit(data):
    x, y = data
    layer = imagehub.KerasLayer(TFHUB_CLASSIFIER_DIR)
    before = _values(layer)
    _model(layer).fit(x, y, epochs=1, batch_size=4, verbose=0)
    moved = [n for n, v in _values(layer).items() if not (v == before[n]).all()]
    assert moved == [], f"frozen layer changed {moved[:5]}"


@pytest.mark.slow
def test_trainable_changes_variables_when_fit(fine_tuned):
    layer, _, before, after = fine_tuned
    trainable = {w.value.name for w in layer.trainable_weights}
    # Exact comparison: with random weights some gradients are ~1e-8.
    unchanged = [n for n in trainable if (before[n] == after[n]).all()]
    assert unchanged == [], f"fine-tuning left {unchanged[:5]} unchanged"
    stats = [n for n in before if "moving_mean" in n]
    assert stats, "no batch-norm statistics found"
    still = [n for n in stats if (before[n] == after[n]).all()]
    assert still == [], f"batch-norm statistics {still[:5]} did not move"


def test_regularization_loss_equals_saved_model_when_trainable(hub_obj, data):
    x, _ = data
    expected = [float(fn()) for fn in hub_obj.regularization_losses]
    assert len(expected) == 1, expected
    frozen = _model(imagehub.KerasLayer(hub_obj))
    frozen(x[:1])
    assert [float(v) for v in frozen.losses] == [0.0]
    trainable = _model(imagehub.KerasLayer(hub_obj, trainable=True))
    trainable(x[:1], training=False)
    got = [float(v) for v in trainable.losses]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.slow
def test_arguments_change_training_result_when_given(data):
    x, _ = data
    means = []
    for arguments in (None, dict(batch_norm_momentum=0.5)):
        layer = imagehub.KerasLayer(
            TFHUB_CLASSIFIER_DIR, trainable=True, arguments=arguments
        )
        layer(x, training=True)
        means.append(
            next(w for w in layer.weights if "moving_mean" in w.name).numpy()
        )
    assert not np.allclose(*means), "batch_norm_momentum had no effect"


def test_arguments_unknown_fail_with_traced_list_when_given(hub_obj):
    with pytest.raises(ValueError, match="batch_norm_momentum"):
        imagehub.KerasLayer(hub_obj, arguments=dict(dropout=0.1))


@pytest.mark.slow
def test_keras_round_trip_identical_when_fine_tuned(fine_tuned, data, tmp_path):
    x, _ = data
    _, model, _, _ = fine_tuned
    path = str(tmp_path / "tfhub.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        restored.predict(x, verbose=0), model.predict(x, verbose=0)
    )
