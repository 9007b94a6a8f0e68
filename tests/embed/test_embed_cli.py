"""`imagehub embed` on the command line (in process: TF is imported once)."""

from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from imagehub import cli

from .conftest import model_outputs
from .conftest import write_bad_files


def test_embed_cli_writes_output_and_shows_images_per_second(
    models, image_folder, tmp_path, capsys
):
    folder, paths = image_folder
    out = str(tmp_path / "cli.parquet")
    code = cli.main(
        [
            "embed",
            "--model",
            models["feature_vector"],
            "--input",
            folder,
            "--output",
            out,
            "--part_size",
            "100",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert pq.read_table(out).num_rows == len(paths)
    assert f"{out}: {len(paths)} images" in captured.out
    assert "images/s" in captured.err, "the progress bar shows the speed"


def test_embed_cli_points_to_the_errors_file(models, tmp_path, capsys):
    folder = str(tmp_path / "bad")
    bad = write_bad_files(folder)
    out = str(tmp_path / "bad.parquet")
    code = cli.main(
        [
            "embed",
            "--model",
            models["feature_vector"],
            "--input",
            folder,
            "--output",
            out,
            "--no_progress",
        ]
    )
    assert code == 0
    stdout = capsys.readouterr().out
    assert f"{len(bad)} files could not be embedded" in stdout
    assert str(tmp_path / "bad.errors.csv") in stdout


def test_embed_cli_runs_beam_with_options(
    models, image_folder, tmp_path, capsys
):
    pytest.importorskip("apache_beam", reason="needs the [beam] extra")
    _, paths = image_folder
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(paths[:20]) + "\n")
    out = str(tmp_path / "beam.parquet")
    code = cli.main(
        [
            "embed",
            "--model",
            models["classification"],
            "--input",
            str(listing),
            "--output",
            out,
            "--runner",
            "beam",
            "--beam_option",
            "runner=DirectRunner",
            "--beam_option",
            "direct_num_workers=1",
            "--batch_size",
            "8",
        ]
    )
    assert code == 0, capsys.readouterr().err
    table = pq.read_table(out)
    assert sorted(table["path"].to_pylist()) == sorted(paths[:20])
    assert table.column_names == ["path", "vector", "logits"]
    table = table.sort_by("path")
    expected = model_outputs(
        models["classification"], sorted(paths[:20]), (16, 16), "stretch"
    )
    np.testing.assert_allclose(
        np.array(table["logits"].to_pylist(), np.float32), expected, atol=1e-5
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--beam_option", "runner=DirectRunner"], "needs --runner beam"),
        (["--runner", "beam", "--beam_option", "=x"], "expected KEY=VALUE"),
        (["--output", "out.csv"], "Unsupported output"),
        (["--runner", "beam", "--output", "out.npy"], "writes Parquet"),
    ],
)
def test_embed_cli_bad_flags_exit_2(models, tmp_path, capsys, extra, message):
    args = [
        "embed",
        "--model",
        models["feature_vector"],
        "--input",
        str(tmp_path),
        "--output",
        str(tmp_path / "o.parquet"),
        *extra,
    ]
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err, err
    assert not os.path.exists(str(tmp_path / "o.parquet"))
