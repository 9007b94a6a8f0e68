"""`imagehub compare` on the command line: JSON output, the table, and
the overwrite rule."""

import json

import pytest

from imagehub.testing import run_cli


def _args(workdir, out):
    return [
        "compare",
        "--image_dir",
        str(workdir.images),
        "--model",
        workdir.blind,
        "--model",
        workdir.colour,
        "--model",
        workdir.missing,
        "--max_images_per_class",
        "10",
        "--folds",
        "3",
        "--out",
        str(out),
    ]


def test_cli_prints_json_and_writes_out_when_asked(workdir, tmp_path):
    out = tmp_path / "out"
    done = run_cli(*_args(workdir, out), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["winner"] == workdir.colour
    assert result["num_images"] == 30 and result["num_folds"] == 3
    assert not result["retrain_reuses_cache"]
    failed = [m for m in result["models"] if m["error"]]
    assert [m["model"] for m in failed] == [workdir.missing]
    assert json.loads((out / "compare.json").read_text()) == result


@pytest.mark.slow
def test_cli_prints_a_table_and_refuses_existing_out_when_run_twice(
    workdir, tmp_path
):
    out = tmp_path / "out"
    done = run_cli(*_args(workdir, out))
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout.replace("\n", "")
    assert "no_such_model" in text
    assert "imagehub retrain" in text
    assert "│ =1 " not in done.stdout, done.stdout  # no tie here
    again = run_cli(*_args(workdir, out))
    assert again.returncode == 2, again.stderr[-3000:]
    assert "--overwrite" in again.stderr
