"""Every kind of model `imagehub export` writes passes the checker."""

import pytest

import imagehub
from imagehub.export import export_classifier
from imagehub.export import export_feature_vector
from imagehub.testing import tiny_keras_model
from imagehub.testing import write_keras_export

SIZE = 16


def _feature_vector(path):
    return export_feature_vector(tiny_keras_model(), path, image_size=SIZE)


def _softmax_classifier(path):
    # The exporter strips the final softmax and records it in the card.
    model = tiny_keras_model(num_classes=3, final_activation="softmax")
    return export_classifier(
        model, path, labels=["a", "b", "c"], image_size=SIZE
    )


def _sigmoid_classifier_fixed_size(path):
    model = tiny_keras_model(num_classes=4, image_size=SIZE)
    return export_classifier(model, path, activation="sigmoid")


def _wrapped_keras_export(path):
    # `imagehub export --saved_model`: Keras 3 Model.export() output wrapped.
    src = write_keras_export(f"{path}_src")
    return export_feature_vector(src, path, image_size=SIZE)


EXPORTS = {
    "feature_vector": (_feature_vector, "feature_vector"),
    "softmax_classifier": (_softmax_classifier, "classification"),
    "sigmoid_classifier_fixed_size": (
        _sigmoid_classifier_fixed_size,
        "classification",
    ),
    "wrapped_keras_export": (_wrapped_keras_export, "feature_vector"),
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_check_passes_with_no_fail_when_model_is_exported(tmp_path, name):
    write, task = EXPORTS[name]
    path = write(str(tmp_path / name))
    report = imagehub.check(path)
    assert report.conforming, report.to_json()
    assert report.task == task and report.task_source == "card"
    statuses = report.statuses()
    assert statuses["M1"] == "PASS", report.result("M1")
    assert statuses["M2"] == "PASS", report.result("M2")
