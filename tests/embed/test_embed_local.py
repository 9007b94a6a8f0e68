"""`embed` on one machine: values, outputs, bad files, bounded memory."""

from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import pytest

import imagehub
from imagehub.embed import _writer

from .conftest import model_outputs
from .conftest import write_bad_files


def test_embed_features_equal_model_call_when_returned(models, image_folder):
    folder, paths = image_folder
    result = imagehub.embed(models["feature_vector"], folder, batch_size=32)
    assert result.paths == sorted(paths), "every image, in scan order"
    expected = model_outputs(
        models["feature_vector"], result.paths, (16, 16), "stretch"
    )
    assert result.vectors.dtype == np.float32
    assert result.vectors.shape == (len(paths), 8), "8 features per image"
    np.testing.assert_allclose(result.vectors, expected, atol=1e-5)
    assert result.logits is None, "a feature vector model has no logits"
    assert result.errors == []


def test_embed_parquet_rows_equal_model_call(models, image_folder, tmp_path):
    folder, paths = image_folder
    out = str(tmp_path / "features.parquet")
    summary = imagehub.embed(
        models["feature_vector"],
        folder,
        out,
        batch_size=20,
        image_size=(20, 20),
        resize="crop",
        part_size=64,
    )
    assert (summary.rows, summary.errors) == (len(paths), 0)
    table = pq.read_table(out)
    assert table.column_names == ["path", "vector"]
    assert str(table.schema.field("vector").type) == "list<element: float>"
    got_paths = table["path"].to_pylist()
    assert got_paths == sorted(paths), "one row per image, in order"
    vectors = np.array(table["vector"].to_pylist(), np.float32)
    expected = model_outputs(
        models["feature_vector"], got_paths, (20, 20), "crop"
    )
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert not os.path.exists(str(tmp_path / "features.parts")), (
        "the parts are removed once merged"
    )
    assert summary.errors == 0
    assert not os.path.exists(summary.errors_path), (
        "no errors file when nothing failed"
    )


def test_embed_npy_writes_vectors_and_paths(models, image_folder, tmp_path):
    folder, paths = image_folder
    out = str(tmp_path / "features.npy")
    imagehub.embed(models["feature_vector"], paths[:50], out, part_size=16)
    vectors = np.load(out)
    with open(str(tmp_path / "features.paths.txt"), encoding="utf-8") as f:
        listed = f.read().splitlines()
    assert listed == paths[:50]
    expected = model_outputs(
        models["feature_vector"], listed, (16, 16), "stretch"
    )
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_embed_classifier_rows_carry_logits(models, image_folder, tmp_path):
    _, paths = image_folder
    out = str(tmp_path / "logits.parquet")
    imagehub.embed(models["classification"], paths[:40], out)
    table = pq.read_table(out)
    assert table.column_names == ["path", "vector", "logits"]
    logits = np.array(table["logits"].to_pylist(), np.float32)
    expected = model_outputs(
        models["classification"], paths[:40], (16, 16), "stretch"
    )
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    np.testing.assert_array_equal(
        np.array(table["vector"].to_pylist(), np.float32),
        logits,
        err_msg="a classifier's vector is its logits",
    )


def test_embed_accepts_loaded_model_and_reads_its_card(models, image_folder):
    import tensorflow as tf

    _, paths = image_folder
    obj = tf.saved_model.load(models["feature_vector"])
    result = imagehub.embed(obj, paths[:10])
    expected = model_outputs(
        models["feature_vector"], paths[:10], (16, 16), "stretch"
    )
    np.testing.assert_allclose(result.vectors, expected, atol=1e-5)


def test_embed_lists_every_bad_file_when_folder_has_bad_files(models, tmp_path):
    from imagehub import testing

    folder = str(tmp_path / "mixed")
    good = testing.write_flat_folder(folder, 25, size=(24, 24), seed=3)
    bad = write_bad_files(folder)
    out = str(tmp_path / "mixed.parquet")
    summary = imagehub.embed(
        models["feature_vector"], folder, out, batch_size=8, part_size=10
    )
    table = pq.read_table(out)
    assert sorted(table["path"].to_pylist()) == sorted(good), (
        "every good file embedded, no bad one"
    )
    with open(summary.errors_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "path,reason"
    listed = sorted(line.split(",", 1)[0] for line in lines[1:])
    assert listed == sorted(bad), f"every bad file listed: {lines}"
    assert all(line.split(",", 1)[1] for line in lines[1:]), "with a reason"
    assert summary.errors == len(bad)


def test_embed_reads_every_image_when_folder_has_subfolders(models, tmp_path):
    from imagehub import testing

    folder = tmp_path / "photos"
    top = testing.write_flat_folder(str(folder), 3, size=(24, 24), seed=1)
    nested = testing.write_flat_folder(
        str(folder / "2019" / "summer"), 2, size=(24, 24), seed=2
    )
    (folder / "LICENSE.txt").write_text("CC BY 2.0: the photographers\n")
    (folder / "2019" / "notes.csv").write_text("day,place\n")
    bad = write_bad_files(str(folder / "2020"))
    out = str(tmp_path / "photos.parquet")
    summary = imagehub.embed(models["feature_vector"], str(folder), out)
    got = pq.read_table(out)["path"].to_pylist()
    assert sorted(got) == sorted(top + nested), (
        "images at the top level and in subfolders are all embedded "
        f"(subfolders are not classes here): {got}"
    )
    with open(summary.errors_path, encoding="utf-8") as f:
        listed = sorted(line.split(",", 1)[0] for line in f.readlines()[1:])
    assert listed == sorted(bad), (
        "only files meant as images are errors; LICENSE.txt and notes.csv "
        f"are passed over: {listed}"
    )


def test_embed_reads_each_header_once_when_folder_scanned(
    models, image_folder, monkeypatch
):
    from imagehub.data import _dataset

    folder, paths = image_folder
    reopened = []
    real = _dataset.inspect_plain_jpeg

    def counting(path, max_pixels):
        reopened.append(path)
        return real(path, max_pixels)

    monkeypatch.setattr(_dataset, "inspect_plain_jpeg", counting)
    result = imagehub.embed(models["feature_vector"], folder)
    assert len(result.paths) == len(paths)
    assert reopened == [], (
        "the scan's header findings reach the reader; it reopened "
        f"{len(reopened)} headers"
    )


def test_embed_rejects_unknown_output_suffix(models, image_folder):
    with pytest.raises(ValueError, match=r"out\.csv.*\.parquet"):
        imagehub.embed(models["feature_vector"], image_folder[0], "out.csv")


def test_embed_rejects_unknown_resize(models, image_folder):
    with pytest.raises(ValueError, match="resize 'squash'"):
        imagehub.embed(
            models["feature_vector"], image_folder[0], resize="squash"
        )


def test_embed_writer_holds_at_most_one_part(
    models, image_folder, tmp_path, monkeypatch
):
    folder, paths = image_folder
    held = []
    flush = _writer.PartWriter.flush

    def recording_flush(self):
        held.append(len(self._paths))
        flush(self)

    monkeypatch.setattr(_writer.PartWriter, "flush", recording_flush)
    imagehub.embed(
        models["feature_vector"],
        folder,
        str(tmp_path / "x.parquet"),
        batch_size=32,
        part_size=50,
    )
    assert max(held) <= 50, f"rows held at each flush: {held}"
    assert sum(held) == len(paths)
    assert len([n for n in held if n]) == 6, "300 rows in parts of 50"


def test_partwriter_peak_rows_never_exceeds_part_size(tmp_path):
    writer = _writer.PartWriter(
        str(tmp_path / "w.parquet"),
        num_outputs=4,
        with_logits=False,
        part_size=10,
    )
    writer.done_paths()
    for i in range(9):
        paths = [f"img{i}_{j}" for j in range(7)]
        writer.add(paths, np.full((7, 4), i, np.float32))
        assert len(writer._paths) < 10, "a full part is written at once"
    rows, errors = writer.close()
    assert writer.peak_buffered_rows == 10
    assert writer.parts_written == 7, "63 rows in parts of 10"
    assert (rows, errors) == (63, 0)
    assert pq.read_table(str(tmp_path / "w.parquet")).num_rows == 63


@pytest.mark.parametrize("odd_name", ["plain.jpg", "caf\u00e9.jpg"])
def test_embed_reports_missing_file_when_given_a_path_list(
    models, image_folder, tmp_path, odd_name
):
    # Non-ASCII names go through the same tf.data route as ASCII ones.
    folder, paths = image_folder
    renamed = str(tmp_path / odd_name)
    with open(sorted(paths)[0], "rb") as src, open(renamed, "wb") as dst:
        dst.write(src.read())
    missing = str(tmp_path / "gone.jpg")
    inputs = [renamed, *sorted(paths)[1:5], missing, *sorted(paths)[5:9]]
    result = imagehub.embed(models["feature_vector"], inputs, batch_size=3)
    good = [p for p in inputs if p != missing]
    assert result.paths == good, "good files embedded, in input order"
    assert [p for p, _ in result.errors] == [missing], result.errors
    assert "No such file" in result.errors[0][1], result.errors
    expected = model_outputs(
        models["feature_vector"], good, (16, 16), "stretch"
    )
    np.testing.assert_allclose(result.vectors, expected, atol=1e-5)
