"""`retrain --engine X`: the feature pass on an engine, the same features
as TensorFlow's within 1e-4, refused where the module trains."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

import imagehub
from imagehub import engines
from imagehub import retrain
from imagehub import testing

from .conftest import FLOAT_ENGINES


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    """3 classes x 12 generated 16x16 images."""
    root = tmp_path_factory.mktemp("retrain-images") / "images"
    testing.write_image_folder(root, num_classes=3, per_class=12, size=(16, 16))
    return str(root)


def _config(tiny_model, folder, out, **changes):
    return retrain.RetrainConfig(
        image_dir=folder,
        tfhub_module=tiny_model,
        report_dir=str(out / "report"),
        checkpoint_dir=str(out / "checkpoints"),
        batch_size=8,
        train_epochs=2,
        recipe="make_image_classifier",
        seed=1,
    ).replace(**changes)


def _run(tiny_model, folder, out, **changes):
    return retrain.make_image_classifier(
        _config(tiny_model, folder, out, **changes)
    )


def _cached(out) -> tuple[np.ndarray, dict]:
    features = np.load(out / "checkpoints" / "features" / "images.npy")
    with open(out / "checkpoints" / "features" / "images.json") as f:
        return features, json.load(f)


@pytest.mark.parametrize("engine", FLOAT_ENGINES)
def test_retrain_feature_pass_caches_tensorflow_features_on_an_engine(
    tiny_model, folder, tmp_path, engine
):
    want = _run(tiny_model, folder, tmp_path / "tf", engine="tensorflow")
    got = _run(tiny_model, folder, tmp_path / "x", engine=engine)
    assert want.engine == "tensorflow", want.engine_reason
    assert got.engine == engine, got.engine_reason
    assert "parity kept" in got.engine_reason, got.engine_reason
    want_features, want_meta = _cached(tmp_path / "tf")
    got_features, got_meta = _cached(tmp_path / "x")
    assert got_meta["engine"] == engine and want_meta["engine"] == "tensorflow"
    assert got_meta["positions"] == want_meta["positions"]
    difference = engines.relative_difference(got_features, want_features)
    assert difference <= 1e-4, f"{engine} features differ by {difference}"
    assert got.labels == want.labels


def test_retrain_feature_cache_key_leaves_the_engine_out(
    tiny_model, folder, tmp_path
):
    first = _run(tiny_model, folder, tmp_path, engine="litert")
    events = []
    config = _config(
        tiny_model, folder, tmp_path, engine="tensorflow", overwrite=True
    )
    again = retrain.make_image_classifier(config, progress=events.append)
    assert first.engine == "litert"
    assert not [e for e in events if e.stage == "features"], (
        "a tensorflow run must reuse the features litert cached"
    )
    assert again.engine == "litert", again.engine_reason
    assert "read from the feature cache" in again.engine_reason


def test_retrain_is_callable_with_an_engine(tiny_model, folder, tmp_path):
    result = imagehub.retrain(
        image_dir=folder,
        tfhub_module=tiny_model,
        batch_size=8,
        train_epochs=1,
        recipe="make_image_classifier",
        engine="openvino",
    )
    assert result.engine == "openvino", result.engine_reason


def test_retrain_auto_on_few_images_runs_tensorflow_and_says_why(
    tiny_model, folder, tmp_path
):
    result = _run(tiny_model, folder, tmp_path, engine="auto")
    assert result.engine == "tensorflow"
    assert "fewer than 1000" in result.engine_reason, result.engine_reason


@pytest.mark.parametrize("engine", FLOAT_ENGINES)
def test_retrain_engine_with_fine_tuning_is_refused(tiny_model, engine):
    with pytest.raises(ValueError, match="do_fine_tuning") as e:
        retrain.RetrainConfig(
            tfhub_module=tiny_model, do_fine_tuning=True, engine=engine
        )
    assert "--engine" in str(e.value), str(e.value)


def test_retrain_engine_without_a_feature_pass_is_refused(tiny_model):
    with pytest.raises(ValueError, match="feature pass"):
        retrain.RetrainConfig(
            tfhub_module=tiny_model, do_data_augmentation=True, engine="litert"
        )


def test_retrain_auto_with_fine_tuning_runs_tensorflow_and_says_why(
    tiny_model, folder, tmp_path
):
    result = _run(
        tiny_model,
        folder,
        tmp_path,
        do_fine_tuning=True,
        recipe="imagehub",
        train_epochs=1,
    )
    assert result.engine == "tensorflow"
    assert "--do_fine_tuning" in result.engine_reason, result.engine_reason


def _retrain_cli(tiny_model, folder, *flags):
    return testing.run_cli(
        "retrain", "--image_dir", folder, "--tfhub_module", tiny_model, *flags
    )


def test_retrain_cli_prints_the_engine_and_why(tiny_model, folder, tmp_path):
    done = _retrain_cli(
        tiny_model,
        folder,
        "--saved_model_dir",
        str(tmp_path / "model"),
        "--train_epochs",
        "1",
        "--batch_size",
        "8",
        "--engine",
        "litert",
    )
    assert done.returncode == 0, done.stderr
    assert "feature pass: engine litert (--engine litert;" in done.stdout, (
        done.stdout
    )
    noise = [
        line
        for line in done.stderr.splitlines()
        if line.startswith(("INFO imagehub.engines", "INFO: "))
    ]
    assert not noise, f"engine INFO lines shown by default: {noise}"


def test_retrain_cli_refuses_an_engine_with_fine_tuning(tiny_model, folder):
    done = _retrain_cli(
        tiny_model, folder, "--do_fine_tuning", "--engine", "openvino"
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "engine='openvino'" in done.stderr and "--do_fine_tuning" in (
        done.stderr
    ), done.stderr


@pytest.mark.slow
def test_retrain_feature_pass_on_the_bundled_mobilenet_matches_tensorflow(
    mobilenet_fv, tmp_path
):
    from .conftest import flower_paths

    images = tmp_path / "flowers"
    for path in flower_paths()[::10]:  # 15 photos of the 5 classes
        label = os.path.basename(os.path.dirname(path))
        (images / label).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, images / label / os.path.basename(path))
    features = {}
    for engine in ("tensorflow", *FLOAT_ENGINES):
        out = tmp_path / engine
        result = _run(mobilenet_fv, str(images), out, engine=engine)
        assert result.engine == engine, result.engine_reason
        features[engine] = _cached(out)[0]
    for engine in FLOAT_ENGINES:
        difference = engines.relative_difference(
            features[engine], features["tensorflow"]
        )
        assert difference <= 1e-4, f"{engine} features differ by {difference}"


def test_retrain_auto_on_a_big_job_measures_and_remembers(tmp_path):
    # A model of its own: no other test's remembered choice.
    model = testing.write_tiny_model(tmp_path / "m", seed=7)
    images = tmp_path / "images"
    per_class = -(-engines.AUTO_MIN_IMAGES // 3)
    testing.write_image_folder(
        images, num_classes=3, per_class=per_class, size=(16, 16)
    )
    first = _run(model, str(images), tmp_path / "a", engine="auto")
    assert "timed on this job's first batches" in first.engine_reason, (
        first.engine_reason
    )
    again = _run(model, str(images), tmp_path / "b", engine="auto")
    assert again.engine == first.engine
    assert "when measured" in again.engine_reason, again.engine_reason
