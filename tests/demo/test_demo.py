"""`imagehub demo --fast`: every step's output, on the built-in MobileNet and
the bundled flower photos (the demo itself runs once, in conftest.py)."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from imagehub import testing
from imagehub.cli import _demo
from imagehub.spec import read_card

LABELS = ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
NUM_PHOTOS = 150
NUM_FEATURES = 256


def _photos() -> set[str]:
    return {
        os.path.realpath(os.path.join(root, name))
        for root, _, names in os.walk(_demo.FLOWERS)
        for name in names
        if name.lower().endswith((".jpg", ".jpeg", ".png"))
    }


def _snapshot(root) -> dict[str, tuple[int, int]]:
    return {
        os.path.relpath(os.path.join(d, n), root): (
            os.stat(os.path.join(d, n)).st_size,
            os.stat(os.path.join(d, n)).st_mtime_ns,
        )
        for d, _, names in os.walk(root)
        for n in names
    }


def test_demo_backbone_when_exported_has_feature_vector_card(demo):
    path = demo.out / "mobilenet_v1_025_feature_vector"
    assert (path / "saved_model.pb").is_file(), f"no SavedModel in {path}"
    card = read_card(path)
    assert card is not None, f"no model card in {path}"
    assert card.task == "feature_vector", f"card task {card.task!r}"
    assert card.num_features == NUM_FEATURES, (
        f"expected {NUM_FEATURES} features, card says {card.num_features}"
    )


def test_demo_classifier_when_retrained_has_card_with_flower_labels(demo):
    path = demo.out / "flowers_classifier"
    assert (path / "saved_model.pb").is_file(), f"no SavedModel in {path}"
    card = read_card(path)
    assert card is not None, f"no model card in {path}"
    assert card.task == "classification", f"card task {card.task!r}"
    assert card.num_classes == len(LABELS), (
        f"expected {len(LABELS)} classes, card says {card.num_classes}"
    )
    assert list(card.labels) == LABELS, f"card labels {card.labels}"


def test_demo_stdout_when_run_shows_each_command_before_its_output(demo):
    out = demo.result.stdout
    out_dir = os.fspath(demo.out)
    # (command prefix, a line the command itself prints afterwards)
    steps = [
        ("$ imagehub export --task feature_vector", "Exported feature_vector"),
        (
            f"$ imagehub check {out_dir}/mobilenet_v1_025_feature_vector",
            "CONFORMING as feature_vector",
        ),
        ("$ imagehub retrain --image_dir", None),
        (
            f"$ imagehub check {out_dir}/flowers_classifier",
            "CONFORMING as classification",
        ),
        ("$ imagehub classify --model", None),
        ("$ imagehub embed --model", None),
    ]
    position = 0
    for command, printed in steps:
        at = out.find(command, position)
        assert at >= 0, (
            f"command line {command!r} not printed (after offset "
            f"{position}):\n{out}"
        )
        position = at + len(command)
        if printed is not None:
            after = out.find(printed, position)
            assert after >= 0, (
                f"{printed!r} not printed after {command!r}:\n{out}"
            )
    assert "NOT CONFORMING" not in out, f"a check failed:\n{out}"
    assert out.count("\nCONFORMING as ") == 2, (
        f"expected two CONFORMING verdicts:\n{out}"
    )


def test_demo_stdout_when_run_is_free_of_tensorflow_noise(demo):
    both = demo.result.stdout + demo.result.stderr
    for noise in (
        "contains input name(s)",
        "tf.lite.Interpreter is deprecated",
    ):
        assert noise not in both, f"{noise!r} shown to the user:\n{both}"


def test_demo_classify_when_run_prints_top_3_labels_per_photo(demo):
    out = demo.result.stdout
    start = out.index("$ imagehub classify")
    section = out[start : out.index("\n== ", start)]
    rows = re.findall(r"^\s+(\d\.\d{4})\s+(\S+) \((\d)\)$", section, re.M)
    photos = len(LABELS)  # one photo per class
    assert len(rows) == 3 * photos, (
        f"expected top 3 for each of {photos} photos:\n{section}"
    )
    for score, label, index in rows:
        assert LABELS[int(index)] == label, f"label {label} index {index}"
        assert 0.0 <= float(score) <= 1.0, f"score {score}"


def test_demo_labels_file_when_written_lists_classes_in_order(demo):
    text = (demo.out / "flowers_labels.txt").read_text(encoding="utf-8")
    assert text.splitlines() == LABELS, f"labels file: {text!r}"


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_demo_tflite_when_loaded_gives_five_outputs(demo):
    import tensorflow as tf

    path = demo.out / "flowers_classifier.tflite"
    assert path.stat().st_size > 0, f"{path} is empty"
    interpreter = tf.lite.Interpreter(model_path=os.fspath(path))
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    assert list(out["shape"])[-1] == len(LABELS), (
        f"expected {len(LABELS)} outputs, shape {out['shape']}"
    )
    shape = [1, *list(inp["shape"])[1:]]
    interpreter.resize_tensor_input(inp["index"], shape)
    interpreter.allocate_tensors()
    image = np.random.default_rng(0).random(shape, dtype=np.float32)
    interpreter.set_tensor(inp["index"], image)
    interpreter.invoke()
    logits = interpreter.get_tensor(out["index"])
    assert logits.shape == (1, len(LABELS)), f"output shape {logits.shape}"
    assert np.isfinite(logits).all(), f"non-finite outputs {logits}"


def test_demo_parquet_when_embedded_has_every_photo_vector(demo):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(demo.out / "flowers_features.parquet")
    assert table.num_rows == NUM_PHOTOS, f"{table.num_rows} rows"
    assert table.schema.field("vector").type == pa.list_(pa.float32()), (
        f"vector type {table.schema.field('vector').type}"
    )
    widths = set(table.column("vector").combine_chunks().value_lengths())
    assert {w.as_py() for w in widths} == {NUM_FEATURES}, f"widths {widths}"
    paths = {os.path.realpath(p) for p in table.column("path").to_pylist()}
    assert paths == _photos(), (
        f"paths differ from the photos: {sorted(paths ^ _photos())[:5]}"
    )


def test_demo_errors_file_when_nothing_failed_is_not_written(demo):
    # Every photo embeds; the credits file beside the class folders is not
    # an image and not an error, so there is no errors file to open.
    path = demo.out / "flowers_features.errors.csv"
    assert not path.exists(), f"an errors file was written: {path}"
    assert "could not be embedded" not in demo.result.stdout, (
        "the demo reports no embedding errors"
    )


def test_demo_summary_when_printed_lists_every_output_folder(demo):
    summary = demo.result.stdout.split("== where everything went", 1)[-1]
    checkpoints = demo.out / "flowers_classifier_checkpoints"
    assert checkpoints.is_dir(), "retrain wrote no checkpoints folder"
    assert str(checkpoints) in summary, (
        f"the checkpoints folder is missing from the list:\n{summary}"
    )


@pytest.mark.parametrize(
    "name",
    [
        "report.html",
        "metrics.json",
        "training_curves.png",
        "confusion_matrix.png",
    ],
)
def test_demo_report_when_written_has_file(demo, name):
    path = demo.report / name
    assert path.is_file() and path.stat().st_size > 0, f"{path} missing"


def test_demo_report_html_when_written_links_its_plots(demo):
    html = (demo.report / "report.html").read_text(encoding="utf-8")
    for link in ("training_curves.png", "confusion_matrix.png"):
        assert f'src="{link}"' in html, f"report.html does not show {link}"


def test_demo_stdout_when_run_shows_nearest_neighbours(demo):
    out = demo.result.stdout
    head = f"== nearest neighbours (cosine) among {NUM_PHOTOS} photos"
    assert head in out, f"no neighbour section:\n{out}"
    section = out[out.index(head) :].split("\n== ")[0]
    rows = re.findall(r"^\s+(-?\d\.\d{3})\s+(\S+)$", section, re.M)
    queries = len(LABELS)  # one photo per class
    assert len(rows) == 3 * queries, (
        f"expected 3 neighbours for each of {queries} photos:\n{section}"
    )
    for label in LABELS:
        assert re.search(rf"^{label}/\S+$", section, re.M), (
            f"no {label} query photo in:\n{section}"
        )


def test_demo_accuracy_when_printed_matches_metrics(demo):
    # The demo's last line (retrain's own log says "final validation ...").
    match = re.search(
        r"^validation accuracy: (\d\.\d{3}) ", demo.result.stdout, re.M
    )
    assert match, f"no validation accuracy printed:\n{demo.result.stdout}"
    metrics = json.loads(
        (demo.report / "metrics.json").read_text(encoding="utf-8")
    )
    assert float(match.group(1)) == pytest.approx(
        metrics["val_accuracy"], abs=5e-4
    ), f"printed {match.group(1)}, metrics.json {metrics['val_accuracy']}"


def test_demo_names_the_recipe_and_points_to_evaluate(demo):
    metrics = json.loads(
        (demo.report / "metrics.json").read_text(encoding="utf-8")
    )
    summary = metrics.get("recipe_summary")
    assert summary and summary.startswith("recipe imagehub"), metrics
    assert summary in demo.result.stdout, demo.result.stdout[-3000:]
    assert "imagehub evaluate --model" in demo.result.stdout, (
        f"no pointer to imagehub evaluate:\n{demo.result.stdout[-3000:]}"
    )


def test_demo_rerun_when_out_exists_exits_2_and_touches_nothing(demo):
    before = _snapshot(demo.out)
    result = testing.run_cli("demo", "--fast", "--out", os.fspath(demo.out))
    assert result.returncode == 2, (
        f"expected exit 2, got {result.returncode}:\n{result.stderr}"
    )
    assert "--overwrite" in result.stderr and "exists" in result.stderr, (
        f"message should say the output exists and name --overwrite:\n"
        f"{result.stderr}"
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert "$ imagehub" not in result.stdout, f"a step ran:\n{result.stdout}"
    assert _snapshot(demo.out) == before, "the rerun changed files in --out"
