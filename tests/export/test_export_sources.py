"""Sources: a `.keras` file (CLI) and a Keras `Model.export()` SavedModel;
`imagehub info` on the result."""

import json

import numpy as np
import pytest
import tensorflow as tf

from imagehub.cli import main
from imagehub.export import export_feature_vector
from imagehub.spec import read_card
from imagehub.testing import assert_reusable
from imagehub.testing import run_cli
from imagehub.testing import tiny_keras_model

SIZE = 16


def _images(n=2, seed=0):
    return np.random.default_rng(seed).random((n, SIZE, SIZE, 3), np.float32)


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    model = tiny_keras_model(image_size=SIZE, seed=4)
    path = tmp_path_factory.mktemp("src") / "tiny.keras"
    model.save(path)
    return model, str(path)


@pytest.fixture(scope="module")
def cli_export(keras_file, tmp_path_factory):
    _, path = keras_file
    out = str(tmp_path_factory.mktemp("cli") / "fv")
    result = run_cli(
        "export",
        "--task",
        "feature_vector",
        "--keras_model",
        path,
        "--input_range",
        "0,255",
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr
    return out, result


def test_cli_keras_file_source_is_conforming(keras_file, cli_export):
    model, _ = keras_file
    out, result = cli_export
    assert "8 features" in result.stdout, result.stdout
    assert_reusable(out, "feature_vector", 8)
    x = _images()
    np.testing.assert_allclose(
        tf.saved_model.load(out)(x).numpy(),
        model(x * 255.0).numpy(),
        atol=1e-5,
    )
    card = read_card(out)
    assert card.fixed_size and card.default_size == (SIZE, SIZE)
    assert card.extra["scaling"] == "input_range=0,255"


def test_cli_refuses_existing_out_without_overwrite(
    keras_file, cli_export, capsys
):
    out, _ = cli_export
    _, path = keras_file
    code = main(["export", "--keras_model", path, "--out", out])
    assert code == 2
    assert "--overwrite" in capsys.readouterr().err


# `imagehub info` runs in-process (TensorFlow is loaded already); the export
# above covers the subprocess path.
def test_info_prints_card_and_signatures(cli_export, capsys):
    out, _ = cli_export
    assert main(["info", out]) == 0
    text = capsys.readouterr().out
    assert 'task: "feature_vector"' in text, text
    assert "num_features: 8" in text, text
    assert f"input  images: float32 [None, {SIZE}, {SIZE}, 3]" in text, text
    assert "input  image_bytes: string [None]" in text, text
    assert "output feature_vector: float32 [None, 8]" in text, text


def test_info_json_has_card_and_signature_specs(cli_export, capsys):
    out, _ = cli_export
    assert main(["info", out, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["card"]["num_features"] == 8
    sig = data["signatures"]["serving_default"]
    assert sig["inputs"]["images"] == {
        "dtype": "float32",
        "shape": [None, SIZE, SIZE, 3],
    }
    assert sig["outputs"]["feature_vector"]["shape"] == [None, 8]


def test_model_export_saved_model_source_is_conforming(tmp_path):
    model = tiny_keras_model(image_size=SIZE, seed=5)
    plain = str(tmp_path / "plain")
    model.export(plain, format="tf_saved_model", verbose=False)
    out = str(tmp_path / "fv")
    export_feature_vector(plain, out, input_range=(-1, 1))
    assert_reusable(out, "feature_vector", 8)
    x = _images()
    np.testing.assert_allclose(
        tf.saved_model.load(out)(x).numpy(),
        model(x * 2.0 - 1.0).numpy(),
        atol=1e-5,
    )
    assert read_card(out).source == plain
