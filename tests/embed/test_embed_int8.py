"""`embed --precision int8`: calibration on the job's own images by
default, the measured agreement printed and saved beside the output
(real LiteRT, tiny models)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import imagehub
from imagehub import cli
from imagehub.embed import config_path
from imagehub.embed._engine import CALIBRATION_SAMPLE
from imagehub.embed._engine import HELD_BACK
from imagehub.embed._engine import calibration_sample


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test compiles into its own model cache."""
    monkeypatch.setenv("IMAGEHUB_CACHE_DIR", str(tmp_path / "cache"))


def test_calibration_sample_when_job_is_large_is_seeded_and_disjoint(
    image_folder,
):
    _, paths = image_folder
    held_back = paths[:HELD_BACK]
    sample = calibration_sample(paths, held_back)
    assert len(sample) == CALIBRATION_SAMPLE, len(sample)
    assert sample == calibration_sample(paths, held_back), "not seeded"
    assert not set(sample) & set(held_back), "calibrated on held-back images"
    assert sample != paths[HELD_BACK : HELD_BACK + CALIBRATION_SAMPLE], (
        "expected a sample spread over the job, got its first images"
    )
    assert sample == sorted(sample, key=paths.index), "not in job order"


def test_embed_int8_cli_when_no_calibration_images_uses_job_and_saves_it(
    models, image_folder, tmp_path, capsys
):
    folder, paths = image_folder
    out = str(tmp_path / "int8.parquet")
    argv = ["embed", "--model", models["feature_vector"], "--input", folder]
    argv += ["--output", out, "--engine", "litert", "--precision", "int8"]
    argv += ["--min_agreement", "0.5", "--no_progress"]
    code = cli.main(argv)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert pq.read_table(out).num_rows == len(paths)
    assert (
        f"calibrated on {CALIBRATION_SAMPLE} of the job's own images"
        in printed.out
    ), printed.out
    with open(config_path(out), encoding="utf-8") as f:
        agreement = json.load(f)["agreement"]
    assert agreement["metric"] == "mean cosine similarity", agreement
    assert agreement["images"] == HELD_BACK, agreement
    assert agreement["image_source"] == "job images", agreement
    assert agreement["min_agreement"] == 0.5, agreement
    assert 0.5 <= agreement["value"] <= 1.0001, agreement
    assert f"{agreement['value']:.4f}" in printed.out, printed.out
    assert "of the job's own images" in agreement["calibration"]


def test_embed_int8_when_job_is_small_calibrates_on_all_but_held_back(
    models, image_folder, tmp_path
):
    _, paths = image_folder
    job = paths[:20]

    def int8_embed(name: str):
        return imagehub.embed(
            models["feature_vector"],
            job,
            str(tmp_path / name),
            engine="litert",
            precision="int8",
            min_agreement=0.0,
        )

    first = int8_embed("a.parquet")
    assert first.agreement is not None, "int8 must report its agreement"
    expected = f"{len(job) - HELD_BACK} of the job's own images"
    assert first.agreement.calibration.startswith(expected), first.agreement
    # A second job reads the compiled model from the cache: the same
    # agreement, and it says the calibration is the compiling run's.
    again = int8_embed("b.parquet")
    assert again.agreement is not None
    assert again.agreement.value == first.agreement.value
    assert "cached" in again.agreement.calibration, again.agreement
    assert again.agreement.calibration.startswith(expected), (
        "the cached model says what it was calibrated on"
    )


def test_embed_int8_when_calibration_images_given_names_them(
    models, image_folder, tmp_path
):
    folder, paths = image_folder
    summary = imagehub.embed(
        models["feature_vector"],
        paths[:12],
        str(tmp_path / "given.parquet"),
        engine="litert",
        precision="int8",
        calibration_images=folder,
        min_agreement=0.0,
    )
    assert summary.agreement is not None
    assert summary.agreement.calibration == (
        f"{len(paths)} images of --calibration_images {folder}"
    ), summary.agreement


def test_embed_float32_writes_no_agreement(models, image_folder, tmp_path):
    _, paths = image_folder
    out = str(tmp_path / "float.parquet")
    summary = imagehub.embed(
        models["feature_vector"], paths[:12], out, engine="litert"
    )
    assert summary.agreement is None
    with open(config_path(out), encoding="utf-8") as f:
        assert "agreement" not in json.load(f)
