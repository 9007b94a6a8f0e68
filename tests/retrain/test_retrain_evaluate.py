"""`imagehub evaluate` on a retrained classifier: the numbers retrain
printed for its validation images."""

import json
import os

import numpy as np
import pytest

from imagehub.retrain import make_image_classifier
from imagehub.testing import run_cli
from imagehub.testing import write_image_folder
from imagehub.testing import write_tiny_model


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    from imagehub import data

    root = tmp_path_factory.mktemp("evaluate")
    # Random labels: accuracy well below 1, so agreeing is not a given.
    write_image_folder(
        root / "images", per_class=20, size=(16, 16), random_labels=True
    )
    write_tiny_model(root / "module")
    result = make_image_classifier(
        image_dir=str(root / "images"),
        tfhub_module=str(root / "module"),
        saved_model_dir=str(root / "model"),
        recipe="make_image_classifier",  # exports what it validated
        train_epochs=3,
        learning_rate=0.1,
        batch_size=8,
        validation_split=0.25,
        seed=4,
    )
    # The validation images, as retrain split them, in their own folder.
    index = data.scan(root / "images")
    _, val = data.split(index, 0.25, 4)
    for path, label in zip(val.paths, val.labels, strict=True):
        folder = root / "val" / val.class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        os.symlink(path, folder / os.path.basename(path))
    return root, result


def _evaluate_json(model, *args):
    """`imagehub evaluate --model M ... --json`'s report, asserted to
    succeed."""
    done = run_cli("evaluate", "--model", str(model), *map(str, args), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _name(path):
    """class/file: file names repeat across the class folders."""
    return os.path.join(*os.path.normpath(path).split(os.sep)[-2:])


def test_evaluate_matches_retrain_accuracy_on_the_same_images(retrained):
    root, result = retrained
    done = run_cli(
        "evaluate",
        "--model",
        str(root / "model"),
        "--image_dir",
        str(root / "val"),
        "--json",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["count"] == result.val_count
    assert report["accuracy"] == pytest.approx(result.val_accuracy), (
        f"evaluate {report['accuracy']} vs retrain {result.val_accuracy}"
    )
    assert report["accuracy"] < 1.0, "random labels cannot all be right"
    wrong = {_name(m["path"]) for m in report["misclassified"]}
    metrics = json.loads((root / "model_report/metrics.json").read_text())
    assert wrong == {_name(m["path"]) for m in metrics["misclassified"]}, (
        "the same images are wrong in both"
    )
    per_class = {c["class"]: c for c in report["per_class"]}
    assert sum(c["support"] for c in per_class.values()) == report["count"]
    assert report["top5_accuracy"] == 1.0, "3 classes: always in the top 5"


def test_evaluate_prints_a_table_with_f1_and_the_confusion_matrix(
    retrained,
):
    root, result = retrained
    done = run_cli(
        "evaluate", "--model", str(root / "model"), "--image_dir",
        str(root / "val"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"accuracy {result.val_accuracy:.4f}" in done.stdout, done.stdout
    assert "f1" in done.stdout and "confusion matrix" in done.stdout


def test_evaluate_refuses_folders_that_are_not_model_labels(
    retrained, tmp_path
):
    root, _ = retrained
    write_image_folder(tmp_path / "other", num_classes=2, per_class=1)
    (tmp_path / "other" / "class_1").rename(tmp_path / "other" / "zebra")
    done = run_cli(
        "evaluate", "--model", str(root / "model"), "--image_dir",
        str(tmp_path / "other"),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "zebra" in done.stderr and "--labels" in done.stderr


# --- multi-label: classify's label sets and evaluate's mAP -------------------


@pytest.fixture(scope="module")
def multi_label(tmp_path_factory):
    from imagehub.retrain import RetrainConfig
    from imagehub.testing import write_two_shape_images

    root = tmp_path_factory.mktemp("evaluate_multi_label")
    csv_path = write_two_shape_images(root)
    write_tiny_model(root / "module")
    result = make_image_classifier(
        RetrainConfig(
            multi_label=True,
            labels_csv=csv_path,
            tfhub_module=str(root / "module"),
            saved_model_dir=str(root / "model"),
            seed=1,
        )
    )
    return root, result


def test_classify_applies_card_thresholds_when_model_is_multi_label(
    multi_label,
):
    import imagehub
    from imagehub.spec import read_card

    root, _ = multi_label
    card = read_card(root / "model")
    thresholds = dict(zip(card.labels, card.extra["thresholds"], strict=True))
    # "01": a cyan square and a magenta disc; "22": yellow only.
    paths = [str(root / "img" / "01_01.png"), str(root / "img" / "22_00.png")]
    results = imagehub.classify(str(root / "model"), paths, top_k=1)
    shown = [{e["label"] for e in r["predicted"]} for r in results]
    assert shown == [{"cyan", "magenta"}, {"yellow"}], results
    for r in results:
        assert len(r["top_k"]) == 1, "top_k still honours top_k"
        for e in r["predicted"]:
            assert e["score"] >= thresholds[e["label"]], r


def test_classify_prints_label_sets_when_model_is_multi_label(multi_label):
    root, _ = multi_label
    done = run_cli(
        "classify", "--model", str(root / "model"), "--no_progress",
        str(root / "img" / "01_01.png"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "labels: cyan, magenta" in done.stdout, done.stdout


def test_classify_has_no_label_sets_when_model_is_single_label(retrained):
    import imagehub

    root, _ = retrained
    image = next((root / "val").rglob("*.*"))
    (result,) = imagehub.classify(str(root / "model"), [str(image)])
    assert "predicted" not in result, result


def test_evaluate_multi_label_reports_map_and_f1_at_card_thresholds(
    multi_label,
):
    from imagehub.retrain._multilabel import f1_scores
    from imagehub.retrain._multilabel import mean_average_precision

    root, _ = multi_label
    report = _evaluate_json(root / "model", "--labels_csv", root / "labels.csv")
    assert report["count"] == 48, report["count"]
    assert report["mean_average_precision"] >= 0.9, report
    # The numbers follow from the scores as retrain's own metrics do.
    import numpy as np

    import imagehub

    results = imagehub.classify(
        str(root / "model"), [str(root / "img")], top_k=3
    )
    names = report["class_names"]
    scores = np.zeros((len(results), 3))
    targets = np.zeros((len(results), 3))
    for i, r in enumerate(results):
        for e in r["top_k"]:
            scores[i, e["index"]] = e["score"]
        a, b = os.path.basename(r["path"])[:2]
        targets[i, [int(a), int(b)]] = 1
    assert report["mean_average_precision"] == pytest.approx(
        mean_average_precision(scores, targets)
    )
    thresholds = np.array([c["threshold"] for c in report["per_class"]])
    expected_f1 = f1_scores(scores, targets, thresholds)
    assert [c["f1"] for c in report["per_class"]] == pytest.approx(
        list(expected_f1)
    )
    assert names == ["cyan", "magenta", "yellow"]


def test_evaluate_refuses_labels_csv_for_a_single_label_model(
    retrained, multi_label
):
    root, _ = retrained
    ml_root, _ = multi_label
    done = run_cli(
        "evaluate", "--model", str(root / "model"), "--labels_csv",
        str(ml_root / "labels.csv"),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "multi-label" in done.stderr and "--image_dir" in done.stderr


# --- calibration and the Python entry point ----------------------------------


def test_calibration_error_is_zero_when_scores_match_accuracy():
    from imagehub.retrain import calibration

    # Bin [0.7, 0.8): 8 answers at 0.75, exactly 75% of them right.
    conf = np.full(8, 0.75)
    right = np.array([1, 1, 1, 0, 1, 1, 1, 0], bool)
    result = calibration(conf, right)
    assert result.expected_calibration_error == pytest.approx(0.0)
    assert result.counts[7] == 8 and sum(result.counts) == 8


def test_calibration_error_weighs_each_bin_by_its_images():
    from imagehub.retrain import calibration

    # 3 images at 0.95, all wrong (gap 0.95); 1 at 1.0 (last bin), right.
    conf = np.array([0.95, 0.95, 0.95, 1.0])
    right = np.array([False, False, False, True])
    result = calibration(conf, right)
    # One bin [0.9, 1]: mean score 0.9625, accuracy 0.25.
    assert result.counts[-1] == 4
    assert result.expected_calibration_error == pytest.approx(0.9625 - 0.25)
    assert result.accuracy[0] is None, "empty bins have no accuracy"


def test_evaluate_reports_calibration_and_writes_reliability_png(
    retrained, tmp_path
):
    from PIL import Image

    import imagehub

    root, result = retrained
    expected = imagehub.evaluate(str(root / "model"), str(root / "val"))
    assert expected.accuracy == pytest.approx(result.val_accuracy)
    done = run_cli(
        "evaluate", "--model", str(root / "model"), "--image_dir",
        str(root / "val"), "--out", str(tmp_path / "out"), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)["calibration"]
    ece = expected.calibration.expected_calibration_error
    assert report["expected_calibration_error"] == pytest.approx(ece)
    assert 0.0 < ece < 1.0, "random labels: scores cannot match exactly"
    assert sum(b["count"] for b in report["bins"]) == result.val_count
    # The ECE from the bins, recomputed by hand.
    manual = sum(
        b["count"] / result.val_count * abs(b["accuracy"] - b["confidence"])
        for b in report["bins"]
        if b["count"]
    )
    assert manual == pytest.approx(ece)
    with Image.open(tmp_path / "out" / "reliability.png") as png:
        assert png.format == "PNG" and png.size[0] > 100


def test_imagehub_evaluate_needs_image_dir_or_labels_csv():
    import imagehub

    with pytest.raises(ValueError, match="labels_csv"):
        imagehub.evaluate("any_model")


def test_evaluate_cli_needs_image_dir_or_labels_csv():
    done = run_cli("evaluate", "--model", "any_model")
    assert done.returncode == 2, done.stderr
    assert "--image_dir" in done.stderr and "--labels_csv" in done.stderr


def test_evaluate_out_writes_misclassified_page_with_thumbnails(
    retrained, tmp_path
):
    from PIL import Image

    import imagehub

    root, _ = retrained
    model = str(root / "model")
    classes = sorted(os.listdir(root / "val"))
    sources = sorted(
        os.path.realpath(root / "val" / c / f)
        for c in classes
        for f in os.listdir(root / "val" / c)
    )
    top1 = {
        r["path"]: r["top_k"][0]["label"]
        for r in imagehub.classify(model, sources, top_k=1)
    }
    # Every other image filed under a class the model does not predict
    # for it: exactly those are misclassified.
    folder = tmp_path / "mislabelled"
    wrong = set()
    for i, src in enumerate(sources):
        right = top1[src]
        label = right if i % 2 else classes[classes.index(right) - 1]
        ext = os.path.splitext(src)[1]
        name = f"img{i}{ext}"
        if i == 0:
            name = f"<script>alert(1)&x'\"{ext}"  # no "/" in names
        (folder / label).mkdir(parents=True, exist_ok=True)
        os.symlink(src, folder / label / name)
        if label != right:
            wrong.add(f"{label}/{name}")
    out = tmp_path / "out"
    done = run_cli(
        "evaluate", "--model", model, "--image_dir", str(folder),
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    page = (out / "misclassified.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&amp;x" in page
    # One figure per misclassified file: its escaped name, its thumbnail.
    import html
    import re

    figures = re.findall(r"<figure>.*?</figure>", page, re.S)
    listed = set()
    for fig in figures:
        alt = html.unescape(re.search(r'alt="([^"]*)"', fig).group(1))
        listed.add(_name(alt))
        thumb = html.unescape(re.search(r'src="([^"]*)"', fig).group(1))
        assert thumb.startswith("thumbnails/") and ".." not in thumb
        with Image.open(out / thumb) as image:
            image.verify()
            assert image.format == "JPEG"
        assert "top-k:" in fig and "score " in fig
    assert listed == wrong
    assert len(os.listdir(out / "thumbnails")) == len(wrong)
    # Running again replaces the page, as reliability.png.
    again = run_cli(
        "evaluate", "--model", model, "--image_dir", str(folder),
        "--out", str(out),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]


# --- any reusable classifier: TF Hub's, with --labels ------------------------


def test_evaluate_scores_a_tfhub_classifier_with_labels_file(tmp_path):
    """TF Hub's ImageNet classifier (no card, 1001 logits): its own top-1
    and top-5 on 128x128 images, read here with Pillow and run through
    the SavedModel directly, give the accuracy evaluate must report."""
    import tensorflow as tf
    from PIL import Image

    from imagehub import data
    from imagehub.testing import TFHUB_CLASSIFIER_DIR

    write_image_folder(
        tmp_path / "images", per_class=4, size=(128, 128), fmt="png"
    )
    index = data.scan(tmp_path / "images")
    images = np.stack(
        [
            np.asarray(Image.open(p).convert("RGB"), np.float32) / 255.0
            for p in index.paths
        ]
    )
    logits = np.asarray(tf.saved_model.load(TFHUB_CLASSIFIER_DIR)(images))
    top1 = np.argmax(logits, axis=1)
    labels = np.asarray(index.labels)
    # Class k's folder is named as the model's favourite for class k's
    # images, except the last class, named as an index it never predicts.
    names = [f"imagenet_{i}" for i in range(logits.shape[1])]
    folder_index = {}
    for k, name in enumerate(index.class_names):
        favourite = int(np.bincount(top1[labels == k]).argmax())
        if k == len(index.class_names) - 1:
            favourite = next(i for i in range(1001) if i not in top1)
        folder_index[k] = favourite
        names[favourite] = name
    (tmp_path / "labels.txt").write_text("\n".join(names) + "\n")
    truth = np.array([folder_index[k] for k in labels])
    top5 = np.argsort(-logits, axis=1)[:, :5]
    report = _evaluate_json(
        TFHUB_CLASSIFIER_DIR, "--image_dir", tmp_path / "images",
        "--labels", tmp_path / "labels.txt",
    )  # fmt: skip
    assert report["count"] == len(index)
    assert report["accuracy"] == pytest.approx(np.mean(top1 == truth))
    assert 0.0 < report["accuracy"] < 1.0, report["accuracy"]
    assert report["top5_accuracy"] == pytest.approx(
        np.mean([t in row for t, row in zip(truth, top5, strict=True)])
    )


def test_evaluate_multi_label_matches_retrain_map_on_its_validation_images(
    multi_label, tmp_path
):
    from imagehub import data

    root, result = multi_label
    rows = (root / "labels.csv").read_text().splitlines()[1:]
    labels = {str(root / r.split(",")[0]): r.split(",")[1] for r in rows}
    # The validation images, as retrain split them (seed 1, 20%).
    index = data.ImageIndex(paths=list(labels), labels=None, class_names=[])
    _, val = data.split(index, 0.2, result.config.seed)
    (tmp_path / "val.csv").write_text(
        "".join(f"{p},{labels[p]}\n" for p in val.paths)
    )
    report = _evaluate_json(
        root / "model", "--labels_csv", tmp_path / "val.csv"
    )
    assert report["count"] == result.val_count
    assert report["mean_average_precision"] == pytest.approx(
        result.metrics["mean_average_precision"], abs=1e-6
    )
    f1 = {c["class"]: c["f1"] for c in report["per_class"]}
    assert f1 == pytest.approx(result.metrics["per_class_f1"], abs=1e-6)
