"""Multi-label retraining (--multi_label --labels_csv) on generated images
that each show two coloured shapes (one or two of three colours), on the
tiny feature-vector SavedModel."""

import json

import numpy as np
import pytest

from imagehub.retrain import FlagValueError
from imagehub.retrain import RetrainConfig
from imagehub.retrain import make_image_classifier
from imagehub.retrain._multilabel import average_precision
from imagehub.retrain._multilabel import choose_thresholds
from imagehub.retrain._multilabel import read_labels_csv
from imagehub.testing import MULTI_LABEL_NAMES as NAMES
from imagehub.testing import read_scalars
from imagehub.testing import run_cli
from imagehub.testing import write_tiny_model
from imagehub.testing import write_two_shape_images


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("multilabel")
    csv_path = write_two_shape_images(root)
    write_tiny_model(root / "module")
    out = root / "out"
    result = _retrain(
        root,
        labels_csv=str(csv_path),
        saved_model_dir=str(out / "model"),
        labels_output_file=str(out / "labels.txt"),
    )
    return root, result


def _retrain(root, **changes):
    """A multi-label run on `root`'s images and module (seed 1)."""
    settings = dict(
        multi_label=True,
        labels_csv=str(root / "labels.csv"),
        tfhub_module=str(root / "module"),
        seed=1,
    )
    return make_image_classifier(RetrainConfig(**{**settings, **changes}))


def test_multi_label_reaches_high_map_when_trained_on_two_shape_images(run):
    _, result = run
    m_ap = result.metrics["mean_average_precision"]
    assert m_ap >= 0.9, f"expected mAP >= 0.9 on validation, got {m_ap}"
    f1 = result.metrics["per_class_f1"]
    assert sorted(f1) == sorted(NAMES)
    assert min(f1.values()) >= 0.7, f"expected every F1 >= 0.7, got {f1}"


def test_multi_label_card_carries_sigmoid_and_thresholds(run):
    from imagehub.spec import read_card

    _, result = run
    card = read_card(result.outputs["saved_model"])
    assert card.activation == "sigmoid"
    assert card.labels == tuple(sorted(NAMES))
    thresholds = card.extra["thresholds"]
    assert len(thresholds) == len(NAMES)
    assert all(0.0 < t < 1.0 for t in thresholds), thresholds
    expected = [result.metrics["thresholds"][n] for n in card.labels]
    assert thresholds == pytest.approx(expected)


def test_multi_label_export_passes_check(run):
    _, result = run
    done = run_cli("check", result.outputs["saved_model"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_multi_label_exported_model_predicts_both_shapes_with_thresholds(
    run,
):
    import tensorflow as tf
    from PIL import Image

    from imagehub.spec import read_card

    root, result = run
    path = result.outputs["saved_model"]
    card = read_card(path)
    model = tf.saved_model.load(path)
    # Image "01_...": a cyan square and a magenta disc.
    image = Image.open(root / "img" / "01_01.png")
    logits = np.asarray(model(np.asarray(image, np.float32)[None] / 255.0))
    probs = 1 / (1 + np.exp(-logits[0]))
    shown = {
        name
        for name, p, t in zip(
            card.labels, probs, card.extra["thresholds"], strict=True
        )
        if p >= t
    }
    assert shown == {"cyan", "magenta"}, (shown, probs)


def test_read_labels_csv_resolves_paths_and_classes(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    csv_path = tmp_path / "l.csv"
    csv_path.write_text("a.jpg,dog; cat\nb/c.jpg,cat\n")
    labelled = read_labels_csv(str(csv_path))
    assert labelled.class_names == ("cat", "dog")
    assert labelled.paths[0] == str(tmp_path / "a.jpg")
    np.testing.assert_array_equal(labelled.targets, [[1, 1], [1, 0]])


def test_read_labels_csv_refuses_row_without_labels(tmp_path):
    csv_path = tmp_path / "l.csv"
    csv_path.write_text("a.jpg,dog\nb.jpg\n")
    with pytest.raises(FlagValueError, match="row 2"):
        read_labels_csv(str(csv_path))


def test_multi_label_without_labels_csv_is_refused():
    with pytest.raises(ValueError, match="labels_csv"):
        RetrainConfig(multi_label=True)


def test_average_precision_when_ranking_is_perfect_or_reversed():
    targets = np.array([1.0, 1.0, 0.0, 0.0])
    assert average_precision(np.array([0.9, 0.8, 0.2, 0.1]), targets) == 1.0
    reversed_ap = average_precision(np.array([0.1, 0.2, 0.8, 0.9]), targets)
    assert reversed_ap == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_choose_thresholds_separates_classes_when_separable():
    probs = np.array([[0.9, 0.3], [0.7, 0.6], [0.2, 0.55], [0.1, 0.1]])
    targets = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], np.float32)
    thresholds = choose_thresholds(probs, targets)
    assert 0.2 < thresholds[0] <= 0.7
    assert 0.3 < thresholds[1] <= 0.55


def test_multi_label_cli_prints_map_and_writes_metrics(run, tmp_path):
    root, _ = run
    done = run_cli(
        "retrain",
        "--multi_label",
        "--labels_csv",
        str(root / "labels.csv"),
        "--tfhub_module",
        str(root / "module"),
        "--report_dir",
        str(tmp_path / "report"),
        "--seed",
        "2",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mAP" in done.stdout, done.stdout
    # One feature pass over training and validation images, reported.
    assert "feature pass: engine tensorflow (auto: " in done.stdout, done.stdout
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["mean_average_precision"] >= 0.9, metrics
    assert set(metrics["thresholds"]) == set(NAMES)


def test_multi_label_run_reports_the_engine_of_its_feature_pass(run, tmp_path):
    root, _ = run
    result = _retrain(
        root,
        saved_model_dir=str(tmp_path / "model"),
        engine="openvino",
        recipe="make_image_classifier",
    )
    assert result.engine == "openvino", result.engine_reason
    assert "parity kept" in result.engine_reason, result.engine_reason


def test_multi_label_run_is_identical_when_seed_is_repeated(run):
    root, first = run

    def again(seed):
        return _retrain(root, seed=seed)

    a, b = again(1), again(2)
    for x, y in zip(_head_weights(first), _head_weights(a), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.history == first.history
    same = ("thresholds", "mean_average_precision", "per_class_f1", "recipe")
    assert {k: a.metrics[k] for k in same} == {
        k: first.metrics[k] for k in same
    }
    assert not np.array_equal(_head_weights(a)[0], _head_weights(b)[0]), (
        "another seed must give other weights"
    )


def _head_weights(result):
    logits = result.model.get_layer("head").get_layer("logits")
    return [np.asarray(v) for v in logits.weights]


# --- fine-tuning, augmentation and TFLite ------------------------------------


@pytest.fixture(scope="module")
def tuned(run):
    """Fine-tuned with RandAugment, and a TFLite model, on the same
    images and module as `run`."""
    root, _ = run
    out = root / "tuned"
    result = _retrain(
        root,
        do_fine_tuning=True,
        do_data_augmentation=True,
        augmentation="randaugment",
        train_epochs=3,
        saved_model_dir=str(out / "model"),
        tflite_output_file=str(out / "model.tflite"),
    )
    return root, result


def _module_changes(a, b):
    """Per module variable: whether runs a and b ended with other values."""
    weights = [
        [np.asarray(v) for v in r.model.get_layer("module").weights]
        for r in (a, b)
    ]
    return [not np.array_equal(x, y) for x, y in zip(*weights, strict=True)]


def test_multi_label_fine_tuning_keeps_high_map_when_augmented(tuned):
    _, result = tuned
    metrics = result.metrics
    assert metrics["do_fine_tuning"] and metrics["do_data_augmentation"]
    assert result.epochs_run == 3 == len(result.history["val_loss"]), (
        "--train_epochs epochs on the images after the warm start"
    )
    assert metrics["warm_start"]["chosen"]["val_loss"] < 0.5, metrics
    assert metrics["mean_average_precision"] >= 0.9, metrics
    assert min(metrics["per_class_f1"].values()) >= 0.7, metrics


def test_multi_label_fine_tuning_trains_the_module(run, tuned):
    _, frozen = run
    _, result = tuned
    module = result.model.get_layer("module")
    assert module.trainable and module.arguments == {
        "batch_norm_momentum": 0.997
    }, module.arguments
    assert any(_module_changes(frozen, result)), (
        "fine-tuning must change the module's weights"
    )


def test_multi_label_tflite_predicts_the_saved_models_label_sets(tuned):
    import tensorflow as tf
    from PIL import Image

    from imagehub.spec import read_card

    root, result = tuned
    assert result.tflite is not None and result.tflite.agreement == 1.0
    assert result.tflite.compared == "label-set"
    assert "label-set agreement" in result.tflite.describe()
    assert result.tflite.count == result.val_count
    thresholds = np.array(
        read_card(result.outputs["saved_model"]).extra["thresholds"]
    )
    paths = sorted((root / "img").glob("*.png"))[::5]
    images = np.stack(
        [np.asarray(Image.open(p), np.float32) / 255.0 for p in paths]
    )
    saved = tf.saved_model.load(result.outputs["saved_model"])
    want = np.asarray(saved(images)) >= np.log(thresholds / (1 - thresholds))
    interpreter = tf.lite.Interpreter(result.outputs["tflite"])
    interpreter.resize_tensor_input(0, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_array_equal(
        got >= np.log(thresholds / (1 - thresholds)), want
    )


def test_multi_label_augmentation_alone_keeps_the_module_frozen(run):
    root, frozen = run
    result = _retrain(root, do_data_augmentation=True, train_epochs=2)
    assert result.epochs_run == 2
    assert result.metrics["mean_average_precision"] >= 0.9, result.metrics
    assert not any(_module_changes(frozen, result)), (
        "augmentation alone leaves the module as it was"
    )


@pytest.mark.parametrize("fine_tuning", [False, True])
def test_multi_label_summaries_dir_writes_scalars_tensorboard_reads(
    run, tmp_path, fine_tuning
):
    pytest.importorskip("tensorboard")  # the reader, a test dependency
    root, _ = run
    result = _retrain(
        root,
        summaries_dir=str(tmp_path / "logs"),
        do_fine_tuning=fine_tuning,
        train_epochs=2,
    )
    train = read_scalars(tmp_path / "logs" / "train")
    val = read_scalars(tmp_path / "logs" / "validation")
    history = result.history
    steps = list(range(1, len(history["loss"]) + 1))
    assert [s for s, _ in train["epoch_loss"]] == steps, train
    assert [v for _, v in train["epoch_loss"]] == pytest.approx(
        history["loss"], rel=1e-5
    )
    assert [v for _, v in val["epoch_accuracy"]] == pytest.approx(
        history["val_accuracy"], rel=1e-5
    )
    assert len(train["epoch_learning_rate"]) == len(steps)
