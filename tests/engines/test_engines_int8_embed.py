"""`imagehub embed --precision int8`: agreement printed and enforced."""

from __future__ import annotations

import os
import re

from imagehub.cli import main


def _embed(tiny_model, folder, out, *extra) -> list[str]:
    return [
        "embed",
        "--model",
        tiny_model,
        "--input",
        folder,
        "--output",
        out,
        "--engine",
        "litert",
        "--precision",
        "int8",
        "--calibration_images",
        folder,
        "--no_progress",
        *extra,
    ]


def test_embed_int8_refuses_below_min_agreement(
    tiny_model, tiny_images, tmp_path, capsys
):
    folder, _ = tiny_images
    out = str(tmp_path / "refused.parquet")
    argv = _embed(tiny_model, folder, out, "--min_agreement", "1.01")
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"expected exit 2, got {code}: {err}"
    assert "mean cosine similarity" in err and "1.01" in err, err
    assert not os.path.exists(out), "a refused run must not write rows"


def test_embed_int8_prints_agreement_when_above_minimum(
    tiny_model, tiny_images, tmp_path, capsys
):
    folder, _ = tiny_images
    out = str(tmp_path / "int8.parquet")
    code = main(_embed(tiny_model, folder, out, "--min_agreement", "0.5"))
    printed = capsys.readouterr()
    assert code == 0, f"expected exit 0, got {code}: {printed.err}"
    match = re.search(r"mean cosine similarity (\d\.\d+)", printed.out)
    assert match, f"agreement not printed: {printed.out}"
    assert 0.5 <= float(match.group(1)) <= 1.0001
    assert os.path.exists(out)


def test_embed_int8_on_openvino_is_a_usage_error(
    tiny_model, tiny_images, tmp_path, capsys
):
    folder, _ = tiny_images
    argv = _embed(tiny_model, folder, str(tmp_path / "x.parquet"))
    argv[argv.index("litert")] = "openvino"
    assert main(argv) == 2
    assert "litert" in capsys.readouterr().err


def test_embed_int8_does_not_resume_a_float32_output(
    tiny_model, tiny_images, tmp_path, capsys
):
    folder, _ = tiny_images
    out = str(tmp_path / "float.parquet")
    argv = _embed(tiny_model, folder, out, "--min_agreement", "0.5")
    float32 = argv[: argv.index("--precision")] + ["--no_progress"]
    assert main(float32) == 0, capsys.readouterr().err
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"int8 rows must not join float32 ones: {err}"
    assert "precision='float32'" in err, err
