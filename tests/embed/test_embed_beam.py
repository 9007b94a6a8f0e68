"""`embed --runner beam`: the same rows as the local runner, on Beam."""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

import imagehub

from .conftest import model_outputs
from .conftest import write_bad_files

pytest.importorskip("apache_beam", reason="needs the [beam] extra")


@pytest.fixture(scope="module")
def beam_run(models, image_folder, tmp_path_factory):
    """One DirectRunner run over the 300 images plus bad files."""
    folder, paths = image_folder
    root = tmp_path_factory.mktemp("beam")
    mixed = str(root / "mixed")
    shutil.copytree(folder, mixed)
    bad = write_bad_files(mixed)
    good = [os.path.join(mixed, os.path.basename(p)) for p in paths]
    out = str(root / "features.parquet")
    summary = imagehub.embed(
        models["feature_vector"],
        mixed,
        out,
        batch_size=25,
        runner="beam",
        beam_options={"runner": "DirectRunner"},
    )
    return summary, out, good, bad, mixed


def _errors(path: str) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path", "reason"], f"header of {path}: {rows[:1]}"
    return rows[1:]


def test_beam_features_equal_model_call(models, beam_run):
    summary, out, good, _, _ = beam_run
    assert os.path.isdir(out), "Beam writes a folder of Parquet shards"
    shards = [f for f in os.listdir(out) if f.endswith(".parquet")]
    assert shards and all(f.startswith("part-") for f in shards), shards
    table = pq.read_table(out).sort_by("path")
    assert table.column_names == ["path", "vector"]
    assert table["path"].to_pylist() == sorted(good), "each image once"
    vectors = np.array(table["vector"].to_pylist(), np.float32)
    expected = model_outputs(
        models["feature_vector"], sorted(good), (16, 16), "stretch"
    )
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert summary.rows == len(good), "rows counted by Beam metrics"


def test_beam_rows_equal_local_runner(models, beam_run, tmp_path):
    _, out, _, _, mixed = beam_run
    local_out = str(tmp_path / "local.parquet")
    imagehub.embed(models["feature_vector"], mixed, local_out)
    local = pq.read_table(local_out).sort_by("path")
    beam = pq.read_table(out).sort_by("path")
    assert beam["path"].to_pylist() == local["path"].to_pylist()
    np.testing.assert_allclose(
        np.array(beam["vector"].to_pylist(), np.float32),
        np.array(local["vector"].to_pylist(), np.float32),
        atol=1e-5,
    )
    local_errors = sorted(
        r[0] for r in _errors(str(tmp_path / "local.errors.csv"))
    )
    beam_errors = sorted(r[0] for r in _errors(beam_run[0].errors_path))
    assert beam_errors == local_errors, "the same files fail on both runners"


def test_beam_lists_every_bad_file(beam_run):
    summary, _, _, bad, _ = beam_run
    rows = _errors(summary.errors_path)
    assert sorted(r[0] for r in rows) == sorted(bad)
    assert all(r[1] for r in rows), f"every error has a reason: {rows}"
    assert summary.errors == len(bad)


def test_beam_refuses_an_existing_output(models, beam_run):
    _, out, _, _, mixed = beam_run
    with pytest.raises(FileExistsError, match="does not resume.*--overwrite"):
        imagehub.embed(models["feature_vector"], mixed, out, runner="beam")


def test_beam_handler_runs_each_decoded_batch_in_one_call(models):
    from imagehub.embed._beam import ImagehubModelHandler
    from imagehub.embed._beam_batch import ImageBatch

    handler = ImagehubModelHandler(models["feature_vector"], 7, (16, 16))
    assert handler.should_skip_batching(), (
        "elements are whole decoded batches; RunInference must not regroup"
    )
    model = handler.load_model()
    for n, value in ((3, 0.1), (7, 0.5)):
        images = np.full((n, 16, 16, 3), value, np.float32)
        paths = tuple(f"p{i}.jpg" for i in range(n))
        results = list(handler.run_inference(ImageBatch(paths, images), model))
        assert len(results) == 1, "one prediction per batch"
        assert results[0].example == paths
        expected = model.obj(images).numpy()
        np.testing.assert_allclose(results[0].inference, expected, atol=1e-6)


def test_beam_image_batch_coder_round_trips_and_sizes_cheaply():
    from apache_beam import coders

    from imagehub.embed._beam_batch import ImageBatch

    images = np.random.default_rng(0).random((4, 8, 8, 3), np.float32)
    batch = ImageBatch(("a.jpg", "b.jpg", "c.jpg", "d.jpg"), images)
    coder = coders.registry.get_coder(ImageBatch)
    back = coder.decode(coder.encode(batch))
    assert back.paths == batch.paths
    np.testing.assert_array_equal(back.images, images)
    assert coder.estimate_size(batch) == images.nbytes + 20


@pytest.mark.parametrize(
    ("name", "content", "matched", "outcome"),
    [
        ("LICENSE.txt", b"CC BY 2.0: the photographers\n", True, "passed"),
        ("LICENSE.txt", b"CC BY 2.0: the photographers\n", False, "error"),
        ("text.png", b"this is not an image\n", True, "error"),
        ("photo.jpg", None, True, "image"),
    ],
)
def test_beam_read_decode_passes_over_matched_non_images(
    tmp_path, name, content, matched, outcome
):
    from imagehub import testing
    from imagehub.data import HEADER_UNKNOWN
    from imagehub.embed._beam import ERRORS_TAG
    from imagehub.embed._beam import ReadAndDecode

    if content is None:
        path = testing.write_flat_folder(str(tmp_path), 1, size=(20, 20))[0]
    else:
        path = str(tmp_path / name)
        with open(path, "wb") as f:
            f.write(content)
    fn = ReadAndDecode((16, 16), "stretch", 10**8)
    fn.setup()
    out = list(fn.process([(path, matched, HEADER_UNKNOWN)]))
    if outcome == "passed":
        assert out == [], f"a matched non-image is passed over, got {out}"
        return
    assert len(out) == 1, out
    if outcome == "error":
        assert getattr(out[0], "tag", None) == ERRORS_TAG, out
        assert out[0].value[0] == path
    else:
        batch = out[0]
        assert batch.paths == (path,) and batch.images.shape == (1, 16, 16, 3)
