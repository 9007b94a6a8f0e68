"""`imagehub export` flag handling (no export runs: errors come first)."""

import pytest

from imagehub.cli import build_parser
from imagehub.cli import main


def test_input_range_accepts_negative_lower_bound():
    args = build_parser().parse_args(
        ["export", "--keras_model", "m.keras", "--out", "o"]
        + ["--input_range", "-1,1"]
    )
    assert args.input_range == "-1,1"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--keras_model", "m.keras", "--alpha", "0.5"], "--alpha"),
        (["--arch", "mobilenet", "--input_range", "0,255"], "--input_range"),
        (["--keras_model", "m.keras", "--signature", "s"], "--signature"),
        (["--arch", "mobilenet", "--labels", "l.txt"], "--labels"),
        (["--arch", "mobilenet", "--image_size", "0,3"], "--image_size"),
    ],
)
def test_bad_flag_combinations_exit_2_naming_the_flag(
    flags, message, tmp_path, capsys
):
    out = str(tmp_path / "o")
    code = main(["export", "--out", out, *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err, err
    assert not (tmp_path / "o").exists()


def test_info_on_tfhub_model_without_card(capsys):
    from imagehub.testing import TFHUB_CLASSIFIER_DIR

    assert main(["info", TFHUB_CLASSIFIER_DIR]) == 0
    out = capsys.readouterr().out
    assert "Model card: none" in out, out
    assert "Signatures:" in out, out


def test_info_on_non_savedmodel_exits_2(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    assert "not a SavedModel directory" in capsys.readouterr().err


def test_library_errors_name_the_flag_when_run_from_the_cli(tmp_path, capsys):
    code = main(
        ["export", "--arch", "mobilenet", "--out", str(tmp_path / "o")]
        + ["--weights", str(tmp_path / "missing.h5")]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--weights '" in err, f"the flag, not weights=..., in: {err}"
    assert "weights='" not in err, err


def test_activation_error_names_the_flag_when_model_ends_in_sigmoid(
    tmp_path, capsys
):
    import keras

    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(2, activation="sigmoid")(pooled)
    path = str(tmp_path / "tagger.keras")
    keras.Model(inputs, outputs).save(path)
    code = main(
        ["export", "--task", "classification", "--keras_model", path]
        + ["--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "pass --activation 'sigmoid'" in err, err
    assert not (tmp_path / "o").exists()
