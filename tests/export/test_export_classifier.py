"""Classifiers: logits out (C1, C3), the final activation recorded."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from imagehub.export import export_classifier
from imagehub.export import export_feature_vector
from imagehub.spec import read_card
from imagehub.testing import assert_reusable
from imagehub.testing import tiny_keras_model

SIZE = 12
LABELS = ("cyan", "magenta", "yellow")


def _images(n=3, seed=0):
    return np.random.default_rng(seed).random((n, SIZE, SIZE, 3), np.float32)


@pytest.fixture(scope="module")
def softmax_model():
    return tiny_keras_model(num_classes=3, final_activation="softmax")


@pytest.fixture(scope="module")
def exported(softmax_model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cls") / "model")
    export_classifier(
        softmax_model,
        path,
        labels=LABELS,
        activation="softmax",
        image_size=SIZE,
    )
    return path


def test_classifier_ending_in_softmax_exports_logits(softmax_model, exported):
    twin = tiny_keras_model(num_classes=3, final_activation=None)
    twin.set_weights(softmax_model.get_weights())
    x = _images()
    logits = tf.saved_model.load(exported)(x).numpy()
    np.testing.assert_allclose(
        logits, twin(x).numpy(), atol=1e-5, err_msg="not the pre-softmax"
    )
    np.testing.assert_allclose(
        tf.nn.softmax(logits).numpy(), softmax_model(x).numpy(), atol=1e-5
    )
    assert not np.allclose(logits.sum(axis=1), 1.0), "got probabilities"


def test_classifier_card_records_activation_and_labels(exported):
    card = read_card(exported)
    assert card.activation == "softmax"
    assert card.labels == LABELS
    assert card.num_classes == 3
    assert card.extra.get("removed_final_activation") == "softmax"
    assert_reusable(exported, "classification", 3)


def test_classifier_activation_contradicting_model_is_refused(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
            keras.layers.Activation("sigmoid"),
        ]
    )
    with pytest.raises(ValueError, match="ends in sigmoid"):
        export_classifier(model, str(tmp_path / "m"), activation="softmax")
    assert not (tmp_path / "m").exists()


def test_classifier_label_count_mismatch_is_refused(softmax_model, tmp_path):
    with pytest.raises(ValueError, match="2 labels given .* 3 outputs"):
        export_classifier(softmax_model, str(tmp_path / "m"), labels=["a", "b"])
    assert not (tmp_path / "m").exists()


def test_sequential_sigmoid_layer_is_stripped(tmp_path):
    keras.utils.set_random_seed(2)
    body = [
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(3, 3),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(4),
    ]
    model = keras.Sequential([*body, keras.layers.Activation("sigmoid")])
    path = str(tmp_path / "m")
    export_classifier(model, path, activation="sigmoid")
    x = _images()
    logits = tf.saved_model.load(path)(x).numpy()
    np.testing.assert_allclose(
        tf.sigmoid(logits).numpy(), model(x).numpy(), atol=1e-5
    )
    card = read_card(path)
    assert card.activation == "sigmoid"
    assert card.fixed_size and card.default_size == (SIZE, SIZE)
    assert card.hparams == {"dropout_rate": pytest.approx(0.2)}


def test_conformance_checker_passes_classifier(exported):
    from imagehub.check import check

    report = check(exported)
    failed = [r for r in report.results if r.status == "FAIL"]
    assert report.exit_code == 0, failed or report.error


def test_classifier_takes_the_feature_vector_keywords_plus_its_own():
    def keywords(fn):
        return {
            name: (p.kind, p.default, p.annotation)
            for name, p in inspect.signature(fn).parameters.items()
            if name not in ("model", "path")
        }

    classifier = keywords(export_classifier)
    own = {name: classifier.pop(name) for name in ("labels", "activation")}
    assert classifier == keywords(export_feature_vector), (
        "export_classifier and export_feature_vector should take the same "
        "keyword-only parameters with the same defaults"
    )
    assert all(
        kind is inspect.Parameter.KEYWORD_ONLY
        for kind, _, _ in classifier.values()
    )
    assert [kind for kind, _, _ in own.values()] == [
        inspect.Parameter.POSITIONAL_OR_KEYWORD
    ] * 2
