"""What `embed` and `classify` write, and when they refuse to: the
overwrite rule, missing inputs, modes, one run per output (issues 13, 20)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import imagehub
from imagehub import cli
from imagehub import outputs
from imagehub import testing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory) -> str:
    folder = str(tmp_path_factory.mktemp("small") / "photos")
    testing.write_flat_folder(folder, 12, size=(20, 20), seed=5)
    return folder


def _run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_embed_refuses_a_file_it_did_not_write_when_no_overwrite(
    models, small_folder, tmp_path, capsys
):
    out = tmp_path / "mine.parquet"
    mine = pa.table({"id": [1, 2, 3]})
    pq.write_table(mine, out)
    argv = ["embed", "--model", models["feature_vector"], "--input"]
    argv += [small_folder, "--output", str(out), "--no_progress"]
    code, text = _run(argv, capsys)
    assert code == 2, text
    assert str(out) in text and "--overwrite" in text, text
    assert pq.read_table(out).equals(mine), "the user's file was changed"
    code, text = _run([*argv, "--overwrite"], capsys)
    assert code == 0, text
    assert pq.read_table(out).num_rows == 12


def test_embed_overwrite_replaces_an_output_made_with_other_settings(
    models, small_folder, tmp_path
):
    out = str(tmp_path / "o.parquet")
    imagehub.embed(models["classification"], small_folder, out)
    with pytest.raises(outputs.OutputExistsError, match="--overwrite"):
        imagehub.embed(models["feature_vector"], small_folder, out)
    assert "logits" in pq.read_schema(out).names, "the old output was kept"
    summary = imagehub.embed(
        models["feature_vector"], small_folder, out, overwrite=True
    )
    assert summary.rows == summary.processed == 12
    assert "logits" not in pq.read_schema(out).names, "not replaced"
    assert sorted(os.listdir(tmp_path)) == ["o.config.json", "o.parquet"]


@pytest.mark.parametrize("command", ["embed", "classify"])
def test_missing_input_is_a_usage_error_before_any_model_load(
    command, tmp_path, capsys
):
    missing = str(tmp_path / "phtoos")
    # The model does not exist either: the input must be found missing
    # first, before anything is loaded.
    model = str(tmp_path / "no_such_model")
    if command == "embed":
        out = str(tmp_path / "typo.parquet")
        argv = ["embed", "--model", model, "--input", missing, "--output", out]
    else:
        argv = ["classify", "--model", model, missing]
    code, text = _run([*argv, "--no_progress"], capsys)
    assert code == 2, f"expected exit 2, got {code}: {text}"
    assert "phtoos" in text and "does not exist" in text, text
    assert "no_such_model" not in text, f"the model was looked at: {text}"
    assert os.listdir(tmp_path) == [], f"written: {os.listdir(tmp_path)}"


def test_embed_outputs_get_the_umask_modes(models, tmp_path):
    folder = str(tmp_path / "mixed")
    testing.write_flat_folder(folder, 3, size=(20, 20), seed=6)
    with open(os.path.join(folder, "broken.jpg"), "wb") as f:
        f.write(b"not a jpeg")
    old = os.umask(0o022)
    try:
        imagehub.embed(models["feature_vector"], folder, tmp_path / "m.npy")
    finally:
        os.umask(old)
    modes = {
        name: oct(os.stat(tmp_path / name).st_mode & 0o777)
        for name in os.listdir(tmp_path)
        if name.startswith("m.")
    }
    assert modes == {
        "m.npy": "0o644",
        "m.paths.txt": "0o644",
        "m.errors.csv": "0o644",
        "m.config.json": "0o644",
    }, modes


SLOW_RUN = """
import sys, time
import imagehub

def progress(done, total):
    if done:
        print("running", flush=True)
        time.sleep(120)

imagehub.embed(sys.argv[1], sys.argv[2], sys.argv[3], batch_size=4,
               part_size=4, progress=progress)
"""


def test_second_embed_on_the_same_output_fails_naming_the_first(
    models, small_folder, tmp_path, capsys
):
    out = str(tmp_path / "shared.parquet")
    first = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, models["feature_vector"]]
        + [small_folder, out],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    try:
        assert first.stdout.readline().strip() == "running"
        argv = ["embed", "--model", models["feature_vector"], "--input"]
        argv += [small_folder, "--output", out, "--no_progress"]
        code, text = _run(argv, capsys)
        assert code == 2, text
        assert f"process {first.pid}" in text and out in text, text
    finally:
        first.kill()
        first.wait(timeout=60)
    # The killed run's lock is free at once; its parts are resumed.
    summary = imagehub.embed(models["feature_vector"], small_folder, out)
    assert summary.rows == 12 and summary.processed < 12, summary
    assert sorted(os.listdir(tmp_path)) == [
        "shared.config.json",
        "shared.parquet",
    ]


def test_embed_removes_temp_files_of_a_killed_run_on_resume(
    models, small_folder, tmp_path
):
    out = str(tmp_path / "k.parquet")
    script = textwrap.dedent(
        """
        import os, signal, sys
        import pyarrow.parquet as pq
        import imagehub
        real = pq.write_table
        calls = []

        def write_table(table, where, *args, **kwargs):
            real(table, where, *args, **kwargs)
            calls.append(where)
            if len(calls) == 2:  # the second part, written, not renamed
                os.kill(os.getpid(), signal.SIGKILL)

        pq.write_table = write_table
        imagehub.embed(sys.argv[1], sys.argv[2], sys.argv[3], batch_size=4,
                       part_size=4)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, models["feature_vector"]]
        + [small_folder, out],
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode < 0, proc.stderr[-2000:]
    left = os.listdir(tmp_path / "k.parts")
    assert any(n.startswith(".part-00001.parquet.tmp-") for n in left), left
    summary = imagehub.embed(models["feature_vector"], small_folder, out)
    assert summary.rows == 12 and summary.processed == 8
    assert sorted(os.listdir(tmp_path)) == ["k.config.json", "k.parquet"]
