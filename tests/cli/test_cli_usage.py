"""Usage mistakes a new user makes, and what the CLI answers (issue 20):
one overwrite rule and message for every writer, the flag the user typed
in errors, hints for a misplaced -v and a misremembered flag."""

from __future__ import annotations

import json
import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imagehub import testing
from imagehub.cli import build_parser
from imagehub.cli import main

# imagehub.outputs.OutputExistsError's one shape, as the CLI prints it.
OVERWRITE_MESSAGE = re.compile(
    r"imagehub (?P<command>\w+): error: (?P<path>\S+) already exists"
    r"(?: \(.*\))?; pass --overwrite \(Python: overwrite=True\) to replace "
    r"it, or choose another path"
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("usage")
    images = str(root / "images")
    testing.write_flat_folder(images, 3, size=(20, 20), seed=7)
    classes = str(root / "classes")
    testing.write_image_folder(classes, num_classes=2, per_class=4)
    return {
        "images": images,
        "classes": classes,
        "feature_vector": testing.write_tiny_model(str(root / "fv")),
        "classification": testing.write_tiny_model(
            str(root / "cls"), task="classification", num_classes=3
        ),
    }


def _refusal(argv, capsys) -> re.Match:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"expected exit 2, got {code}: {err}"
    match = OVERWRITE_MESSAGE.search(err)
    assert match, f"not the one overwrite message: {err}"
    return match


def test_every_writer_when_output_exists_refuses_with_the_one_message(
    tiny, tmp_path, capsys
):
    existing = tmp_path / "model"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep")
    export = _refusal(
        ["export", "--arch", "mobilenet", "--out", str(existing)], capsys
    )
    assert export["path"] == str(existing)

    table = tmp_path / "mine.parquet"
    pq.write_table(pa.table({"id": [1]}), table)
    embed = _refusal(
        ["embed", "--model", tiny["feature_vector"], "--input"]
        + [tiny["images"], "--output", str(table), "--no_progress"],
        capsys,
    )
    assert embed["path"] == str(table)

    retrain = _refusal(
        ["retrain", "--image_dir", tiny["classes"], "--tfhub_module"]
        + [tiny["feature_vector"], "--saved_model_dir", str(existing)],
        capsys,
    )
    assert retrain["path"] == str(existing)

    demo_out = tmp_path / "demo"
    demo_out.mkdir()
    (demo_out / "flowers_labels.txt").write_text("mine\n")
    demo = _refusal(["demo", "--out", str(demo_out)], capsys)
    assert demo["path"] == str(demo_out / "flowers_labels.txt")
    assert (existing / "mine.txt").read_text() == "keep"
    assert pq.read_table(table).column_names == ["id"]
    assert os.listdir(demo_out) == ["flowers_labels.txt"]


def test_every_writer_when_parsed_has_the_one_overwrite_flag():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    helps = {}
    for command in ("export", "retrain", "embed", "demo"):
        action = next(
            a
            for a in sub.choices[command]._actions
            if "--overwrite" in a.option_strings
        )
        helps[command] = action.help
    assert all("refused" in text for text in helps.values()), helps


@pytest.mark.parametrize(
    "flag, other",
    [("--saved_model", "--keras_model"), ("--keras_model", "--saved_model")],
)
def test_export_when_source_is_missing_names_the_flag_typed(
    flag, other, tmp_path, capsys
):
    missing = str(tmp_path / "exported_by_keras")
    code = main(["export", flag, missing, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{flag} '{missing}'" in err, err
    assert other not in err, f"the wrong flag named: {err}"


def test_verbose_alone_when_no_command_exits_2_with_a_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["-v"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "error:" in err and "command" in err, f"no message: {err!r}"


def test_epochs_when_mistyped_suggests_train_epochs(capsys):
    with pytest.raises(SystemExit):
        main(["retrain", "--image_dir", "x", "--epochs", "3"])
    err = capsys.readouterr().err
    assert "did you mean --train_epochs?" in err, err


def test_classify_json_when_printed_is_what_help_says(tiny, capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    (json_help,) = [
        a.help
        for a in sub.choices["classify"]._actions
        if "--json" in a.option_strings
    ]
    code = main(
        ["classify", "--model", tiny["classification"], "--json"]
        + ["--no_progress", tiny["images"]]
    )
    out = capsys.readouterr().out
    assert code == 0
    printed = json.loads(out)
    assert isinstance(printed, list) and len(printed) == 3, printed
    assert "array" in json_help and "one object per image" in json_help, (
        f"--json help {json_help!r} does not describe the array printed"
    )


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def test_retrain_outputs_when_written_get_umask_modes_and_clear_litter(
    tiny, tmp_path, capsys
):
    # What a SIGKILLed earlier retrain of the same target leaves behind.
    litter = tmp_path / f".model.tmp-{_dead_pid()}-k1ll3d"
    (litter / "variables").mkdir(parents=True)
    old = os.umask(0o022)
    try:
        code = main(
            ["retrain", "--image_dir", tiny["classes"], "--tfhub_module"]
            + [tiny["feature_vector"], "--train_epochs", "1"]
            + ["--saved_model_dir", str(tmp_path / "model")]
            + ["--labels_output_file", str(tmp_path / "labels.txt")]
            + ["--tflite_output_file", str(tmp_path / "model.tflite")]
        )
    finally:
        os.umask(old)
    assert code == 0, capsys.readouterr().err[-2000:]
    assert not litter.exists(), "a killed run's temporary folder was kept"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]
    wrong = {}
    for root, dirs, files in os.walk(tmp_path):
        for name in dirs + files:
            path = os.path.join(root, name)
            want = 0o755 if os.path.isdir(path) else 0o644
            if os.stat(path).st_mode & 0o777 != want:
                wrong[os.path.relpath(path, tmp_path)] = oct(
                    os.stat(path).st_mode & 0o777
                )
    assert not wrong, f"outputs not readable by others: {wrong}"


def test_lock_out_replaces_the_old_file_whole_when_given(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("IMAGEHUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("IMAGEHUB_LOCKFILE", "")
    out = tmp_path / "locks" / "imagehub.lock"
    out.parent.mkdir()
    out.write_text("an older lock file\n")
    code = main(["lock", testing.TFHUB_CLASSIFIER_DIR, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    (model,) = json.loads(out.read_text())["models"]
    assert model["handle"] == testing.TFHUB_CLASSIFIER_DIR, model
    assert len(model["sha256"]) == 64, f"no content digest in {model}"
    assert os.listdir(out.parent) == ["imagehub.lock"], (
        "a temporary file was left beside the lock file"
    )
    assert capsys.readouterr().out == "", "the lock file went to --out only"
