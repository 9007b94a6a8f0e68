"""`classify`: labels and scores from the card, a labels file, or none."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np
import pytest

import imagehub
from imagehub import testing

from .conftest import model_outputs

COLOUR_LABELS = ("cyan", "magenta", "yellow")


def write_colour_classifier(path: str, activation: str = "softmax") -> str:
    """A classifier that knows testing.CLASS_COLOURS[:3] by construction.

    Cyan, magenta and yellow each lack one channel (red, green, blue), so
    the logit of class c is high when channel c is dark. A hand-written
    `tf.Module` with a model card, exported with `tf.saved_model.save`.
    """
    import tensorflow as tf

    from imagehub.spec import CARD_FILENAME
    from imagehub.spec import ModelCard

    class ColourClassifier(tf.__internal__.tracking.AutoTrackable):
        def __init__(self):
            self.scale = tf.Variable(-20.0, name="scale")
            self.bias = tf.Variable(10.0, name="bias")

        @tf.function
        def __call__(self, images, training=False):
            means = tf.reduce_mean(images, axis=[1, 2])
            return self.scale * means + self.bias

    module = ColourClassifier()
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    for training in (False, True):
        module.__call__.get_concrete_function(spec, training=training)
    card = ModelCard(
        task="classification",
        num_outputs=3,
        default_size=(16, 16),
        min_size=(1, 1),
        fixed_size=False,
        labels=COLOUR_LABELS,
        activation=activation,
    )
    card_dir = tempfile.mkdtemp()
    try:
        card_file = os.path.join(card_dir, CARD_FILENAME)
        with open(card_file, "w", encoding="utf-8") as f:
            f.write(card.to_json())
        module.model_card = tf.saved_model.Asset(card_file)
        tf.saved_model.save(module, path)
    finally:
        shutil.rmtree(card_dir)
    return path


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("colour")
    return write_colour_classifier(str(root / "softmax"))


@pytest.fixture(scope="module")
def colour_images(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("colour_images"))
    testing.write_image_folder(root, num_classes=3, per_class=6, size=(20, 20))
    return root


def test_classify_gives_the_known_label_for_each_colour(
    colour_model, colour_images
):
    for index, label in enumerate(COLOUR_LABELS):
        folder = os.path.join(colour_images, f"class_{index}")
        results = imagehub.classify(colour_model, folder, top_k=3)
        assert len(results) == 6
        for result in results:
            best = result["top_k"][0]
            assert (best["index"], best["label"]) == (index, label), result
            scores = [e["score"] for e in result["top_k"]]
            assert scores == sorted(scores, reverse=True), "best first"
            assert abs(sum(scores) - 1.0) < 1e-6, "softmax over 3 classes"


def test_classify_scores_are_sigmoid_when_card_says_so(colour_images, tmp_path):
    model = write_colour_classifier(str(tmp_path / "sig"), "sigmoid")
    folder = os.path.join(colour_images, "class_2")
    results = imagehub.classify(model, folder, top_k=3)
    paths = [r["path"] for r in results]
    logits = model_outputs(model, paths, (16, 16), "stretch")
    for result, row in zip(results, logits, strict=True):
        for entry in result["top_k"]:
            expected = 1.0 / (1.0 + np.exp(-row[entry["index"]]))
            assert entry["score"] == pytest.approx(expected, abs=1e-6)


def test_classify_cli_prints_the_known_label(colour_model, colour_images):
    folder = os.path.join(colour_images, "class_1")
    proc = testing.run_cli("classify", "--model", colour_model, folder)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    images = [i for i, line in enumerate(lines) if not line.startswith(" ")]
    assert len(images) == 6, proc.stdout
    for i in images:
        assert lines[i].startswith(folder), lines[i]
        assert lines[i + 1].split()[1:] == ["magenta", "(1)"], proc.stdout


def test_classify_cli_json_has_path_and_top_k(
    colour_model, colour_images, capsys
):
    from imagehub import cli

    folder = os.path.join(colour_images, "class_2")
    code = cli.main(
        ["classify", "--model", colour_model, folder, "--json", "--top_k", "2"]
    )
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 6
    for result in results:
        assert set(result) == {"path", "top_k"}
        assert len(result["top_k"]) == 2
        assert set(result["top_k"][0]) == {"index", "label", "score"}
        assert result["top_k"][0]["label"] == "yellow", result


def test_classify_tfhub_model_with_1000_line_labels_file(
    colour_images, tmp_path
):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"name_{i}\n" for i in range(1000)))
    paths = sorted(
        os.path.join(colour_images, "class_0", f)
        for f in os.listdir(os.path.join(colour_images, "class_0"))
    )[:3]
    results = imagehub.classify(
        testing.TFHUB_CLASSIFIER_DIR, paths, top_k=5, labels=str(labels)
    )
    logits = model_outputs(
        testing.TFHUB_CLASSIFIER_DIR, paths, (128, 128), "stretch"
    )
    for result, row in zip(results, logits, strict=True):
        assert [e["index"] for e in result["top_k"]] == list(
            np.argsort(-row)[:5]
        )
        for entry in result["top_k"]:
            i = entry["index"]
            name = "background" if i == 0 else f"name_{i - 1}"
            assert entry["label"] == name, "index 0 is background"
        probs = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        assert result["top_k"][0]["score"] == pytest.approx(
            probs.max(), rel=1e-5
        )


def test_classify_without_labels_gives_indices(models, colour_images, tmp_path):
    model = testing.write_tiny_model(
        tmp_path / "nocard", task="classification", with_card=False
    )
    folder = os.path.join(colour_images, "class_0")
    # No card: the size comes from the model's serving signature.
    results = imagehub.classify(model, folder, top_k=2)
    assert all(e["label"] is None for r in results for e in r["top_k"])
    assert all(len(r["top_k"]) == 2 for r in results)


def test_classify_rejects_labels_of_the_wrong_length(colour_model, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\nd\ne\n")
    with pytest.raises(ValueError, match="5 names but the model has 3"):
        imagehub.classify(colour_model, [], labels=str(labels))


def test_classify_reports_a_bad_file_and_goes_on(colour_model, tmp_path):
    good = testing.write_flat_folder(str(tmp_path / "f"), 2, size=(16, 16))
    bad = str(tmp_path / "f" / "broken.jpg")
    with open(bad, "wb") as f:
        f.write(b"not a jpeg")
    results = imagehub.classify(colour_model, [good[0], bad, good[1]])
    assert [r["path"] for r in results] == [good[0], bad, good[1]]
    assert results[1]["top_k"] == [] and results[1]["error"]
    assert results[0]["top_k"] and results[2]["top_k"]


def test_classify_knows_the_classes_of_an_exported_keras_classifier(
    tmp_path,
):
    import keras

    from imagehub.data import load_image

    train = str(tmp_path / "train")
    names = testing.write_image_folder(train, 3, per_class=12, size=(16, 16))
    x, y = [], []
    for label, name in enumerate(names):
        folder = os.path.join(train, name)
        for f in sorted(os.listdir(folder)):
            x.append(load_image(os.path.join(folder, f), (16, 16)))
            y.append(label)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.1),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    # One epoch over 30 copies: per-epoch overhead dominates tiny fits.
    x, y = np.tile(np.stack(x), (30, 1, 1, 1)), np.tile(np.array(y), 30)
    model.fit(x, y, epochs=1, batch_size=36, shuffle=True, verbose=0)
    exported = imagehub.export_classifier(
        model,
        str(tmp_path / "exported"),
        labels=list(COLOUR_LABELS),
        image_size=(16, 16),
    )
    unseen = str(tmp_path / "unseen")
    testing.write_image_folder(unseen, 3, per_class=4, size=(24, 24), seed=7)
    for index, label in enumerate(COLOUR_LABELS):
        results = imagehub.classify(
            exported, os.path.join(unseen, f"class_{index}"), top_k=1
        )
        assert [r["top_k"][0]["label"] for r in results] == [label] * 4, results
