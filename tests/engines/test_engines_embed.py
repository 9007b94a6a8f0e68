"""`embed --engine X`: the same rows as TensorFlow, resumable, on Beam."""

from __future__ import annotations

import logging
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

import imagehub
from imagehub import engines
from imagehub import testing

from .conftest import FLOAT_ENGINES


def _rows(path: str) -> tuple[list[str], np.ndarray]:
    table = pq.read_table(path).sort_by("path")
    vectors = np.array(table["vector"].to_pylist(), np.float32)
    return table["path"].to_pylist(), vectors


@pytest.mark.parametrize("engine", FLOAT_ENGINES)
def test_embed_engine_writes_the_rows_tensorflow_writes(
    tiny_model, tiny_images, tmp_path, engine
):
    folder, paths = tiny_images
    want = imagehub.embed(
        tiny_model, folder, str(tmp_path / "tf.parquet"), engine="tensorflow"
    )
    got = imagehub.embed(
        tiny_model, folder, str(tmp_path / "x.parquet"), engine=engine
    )
    assert got.engine == engine and want.engine == "tensorflow"
    assert "parity kept" in got.engine_reason, got.engine_reason
    want_paths, want_rows = _rows(str(tmp_path / "tf.parquet"))
    got_paths, got_rows = _rows(str(tmp_path / "x.parquet"))
    assert got_paths == want_paths == sorted(paths)
    difference = engines.relative_difference(got_rows, want_rows)
    assert difference <= 1e-4, f"{engine} rows differ by {difference}"


def test_embed_with_a_cached_engine_does_not_load_the_saved_model(
    tiny_model, tiny_images, tmp_path, monkeypatch
):
    import tensorflow as tf

    folder, _ = tiny_images
    engines.compile_model(tiny_model, "litert")  # cached now

    def refuse(*args, **kwargs):
        raise AssertionError("the SavedModel was loaded into TensorFlow")

    monkeypatch.setattr(tf.saved_model, "load", refuse)
    summary = imagehub.embed(
        tiny_model, folder, str(tmp_path / "o.parquet"), engine="litert"
    )
    assert summary.rows == 40 and summary.engine == "litert"
    assert "from the cache" in summary.engine_reason


def test_embed_resumes_with_an_engine(tiny_model, tiny_images, tmp_path):
    folder, paths = tiny_images
    out = str(tmp_path / "r.parquet")

    class Stop(Exception):
        pass

    def stop_after_20(done: int, total: int) -> None:
        if done >= 20:
            raise Stop

    with pytest.raises(Stop):
        imagehub.embed(
            tiny_model,
            folder,
            out,
            batch_size=10,
            part_size=10,
            engine="openvino",
            progress=stop_after_20,
        )
    summary = imagehub.embed(
        tiny_model, folder, out, batch_size=10, part_size=10, engine="openvino"
    )
    assert summary.processed == len(paths) - 20, "the rerun skips done parts"
    got_paths, got_rows = _rows(out)
    assert got_paths == sorted(paths), "each image once"
    want = imagehub.embed(tiny_model, sorted(paths), engine="tensorflow")
    order = np.argsort(want.paths)
    assert engines.relative_difference(got_rows, want.vectors[order]) <= 1e-4


def test_classify_runs_on_an_engine(tmp_path, tiny_images):
    folder, paths = tiny_images
    model = testing.write_tiny_model(
        tmp_path / "cls", task="classification", num_classes=3
    )
    got = imagehub.classify(model, folder, top_k=3, engine="openvino")
    want = imagehub.classify(model, folder, top_k=3, engine="tensorflow")
    assert [r["path"] for r in got] == [r["path"] for r in want]
    for a, b in zip(got, want, strict=True):
        assert [e["index"] for e in a["top_k"]] == [
            e["index"] for e in b["top_k"]
        ]
        np.testing.assert_allclose(
            [e["score"] for e in a["top_k"]],
            [e["score"] for e in b["top_k"]],
            atol=1e-5,
        )


def test_beam_direct_runner_uses_the_engine(
    tiny_model, tiny_images, tmp_path, caplog
):
    pytest.importorskip("apache_beam")
    folder, _ = tiny_images
    out = str(tmp_path / "beam.parquet")
    with caplog.at_level(logging.DEBUG, logger="imagehub"):
        summary = imagehub.embed(
            tiny_model, folder, out, runner="beam", engine="openvino"
        )
    assert summary.rows == 40 and summary.engine == "openvino"
    used = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("Engine openvino")
    ]
    assert used, "the workers' model handler ran the OpenVINO engine"
    got_paths, got_rows = _rows(out)
    want = imagehub.embed(tiny_model, got_paths, engine="tensorflow")
    assert engines.relative_difference(got_rows, want.vectors) <= 1e-4


def test_embed_refuses_an_engine_for_a_loaded_object(tiny_model, tmp_path):
    obj = imagehub.load(tiny_model)
    with pytest.raises(ValueError, match="engine='tensorflow'"):
        imagehub.embed(obj, [], engine="litert")


@pytest.mark.parametrize("engine", FLOAT_ENGINES)
def test_cli_embed_engine_prints_the_engine_and_no_info_lines(
    tiny_model, tiny_images, tmp_path, engine
):
    folder, _ = tiny_images
    out = str(tmp_path / "cli.parquet")
    result = testing.run_cli(
        "embed",
        "--model",
        tiny_model,
        "--input",
        folder,
        "--output",
        out,
        "--engine",
        engine,
        "--no_progress",
        env={"IMAGEHUB_CACHE_DIR": os.environ["IMAGEHUB_CACHE_DIR"]},
    )
    assert result.returncode == 0, result.stderr
    assert f"engine: {engine} (--engine {engine}" in result.stdout, (
        result.stdout
    )
    # The engine line above is the user's; the engines' own records and
    # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" are not.
    info = [line for line in result.stderr.splitlines() if "INFO" in line]
    assert not info, f"INFO lines on stderr without -v: {info}"


def test_embed_auto_first_run_races_on_the_job_and_remembers(tmp_path):
    # A model of its own: no other test's remembered choice.
    model = testing.write_tiny_model(tmp_path / "m", seed=21)
    folder = tmp_path / "images"
    testing.write_image_folder(
        folder,
        num_classes=1,
        per_class=engines.AUTO_MIN_IMAGES + 40,
        size=(16, 16),
    )
    want = imagehub.embed(
        model, str(folder), str(tmp_path / "tf.parquet"), engine="tensorflow"
    )
    first = imagehub.embed(
        model, str(folder), str(tmp_path / "a.parquet"), engine="auto"
    )
    assert "timed on this job's first batches" in first.engine_reason, (
        first.engine_reason
    )
    assert first.engine in engines.ENGINES
    assert first.rows == want.rows == engines.AUTO_MIN_IMAGES + 40
    want_paths, want_rows = _rows(str(tmp_path / "tf.parquet"))
    got_paths, got_rows = _rows(str(tmp_path / "a.parquet"))
    assert got_paths == want_paths, "every image once, none twice"
    difference = engines.relative_difference(got_rows, want_rows)
    assert difference <= 1e-4, f"raced rows differ by {difference}"
    again = imagehub.embed(
        model, str(folder), str(tmp_path / "b.parquet"), engine="auto"
    )
    assert again.engine == first.engine
    assert "when measured" in again.engine_reason, again.engine_reason
