"""The flags of `imagehub retrain`: make_image_classifier's, unchanged."""

import dataclasses
import subprocess
import sys

import pytest

from imagehub.retrain import RetrainConfig
from imagehub.retrain import old_flag_names
from imagehub.retrain import parse_flags

# make_image_classifier's flags and defaults, as its source defined them.
OLD_DEFAULTS = {
    "image_dir": None,
    "tfhub_module": (
        "https://tfhub.dev/google/tf2-preview/mobilenet_v2/feature_vector/4"
    ),
    "image_size": None,
    "saved_model_dir": None,
    "tflite_output_file": None,
    "labels_output_file": None,
    "summaries_dir": None,
    "assert_accuracy_at_least": None,
    "train_epochs": 5,
    "do_fine_tuning": False,
    "batch_size": 32,
    "learning_rate": 0.005,
    "momentum": 0.9,
    "dropout_rate": 0.2,
    "set_memory_growth": False,
    "l1_regularizer": 0.0,
    "l2_regularizer": 0.0001,
    "label_smoothing": 0.1,
    "validation_split": 0.2,
    "do_data_augmentation": False,
    "rotation_range": 40,
    "horizontal_flip": True,
    "width_shift_range": 0.2,
    "height_shift_range": 0.2,
    "shear_range": 0.2,
    "zoom_range": 0.2,
    "distribution_strategy": "",
    "use_mixed_precision": False,
}


def test_defaults_match_make_image_classifier_when_no_flags():
    config = parse_flags([])
    for name, default in OLD_DEFAULTS.items():
        # The fields the recipe chooses are None until resolved.
        assert config.resolved(name) == default, (
            f"--{name} resolves to {config.resolved(name)!r}, the old "
            f"tool's default is {default!r}"
        )
    assert config == RetrainConfig(), "flags must take the dataclass defaults"


def test_every_old_flag_is_a_config_field_when_listed():
    assert set(OLD_DEFAULTS) == set(old_flag_names()), (
        "old_flag_names() must be exactly make_image_classifier's flags"
    )


def test_old_readme_command_line_parses_when_values_are_space_separated():
    config = parse_flags(
        [
            "--image_dir",
            "my_image_dir",
            "--tfhub_module",
            "https://tfhub.dev/google/tf2-preview/mobilenet_v2/feature_vector/4",
            "--image_size",
            "224",
            "--saved_model_dir",
            "my_dir/new_model",
            "--labels_output_file",
            "class_labels.txt",
            "--tflite_output_file",
            "new_mobile_model.tflite",
        ]
    )
    assert config.image_size == 224
    assert config.saved_model_dir == "my_dir/new_model"
    assert config.labels_output_file == "class_labels.txt"
    assert config.tflite_output_file == "new_mobile_model.tflite"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--do_fine_tuning"], True),
        (["--nodo_fine_tuning"], False),
        (["--do_fine_tuning=true"], True),
        (["--do_fine_tuning=false"], False),
        (["--do_fine_tuning=True"], True),
        (["--do_fine_tuning=0"], False),
        (["--do_fine_tuning", "--nodo_fine_tuning"], False),
    ],
)
def test_boolean_flag_accepts_absl_spellings_when_given(argv, expected):
    assert parse_flags(argv).do_fine_tuning is expected, argv


def test_noflag_turns_off_a_default_true_flag_when_given():
    assert parse_flags(["--nohorizontal_flip"]).horizontal_flip is False


def test_model_is_an_alias_of_tfhub_module_when_given():
    assert parse_flags(["--model", "some/dir"]).tfhub_module == "some/dir"


def test_new_flags_parse_when_given():
    config = parse_flags(
        [
            "--cache_features=false",
            "--resize",
            "crop",
            "--class_weights",
            "auto",
            "--early_stopping_patience",
            "3",
            "--seed",
            "7",
            "--resume",
            "--tflite_quantize",
            "int8",
            "--report_dir",
            "rep",
        ]
    )
    assert (config.cache_features, config.resize, config.class_weights) == (
        False,
        "crop",
        "auto",
    )
    assert (config.early_stopping_patience, config.seed, config.resume) == (
        3,
        7,
        True,
    )
    assert (config.tflite_quantize, config.report_dir) == ("int8", "rep")


def test_bad_choice_exits_with_usage_error_when_given():
    with pytest.raises(SystemExit):
        parse_flags(["--tflite_quantize", "int4"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("validation_split", 1.5),
        ("batch_size", 0),
        ("dropout_rate", 1.0),
        ("learning_rate", -1.0),
        ("assert_accuracy_at_least", 2.0),
    ],
)
def test_out_of_range_value_names_the_field_when_given(field, value):
    with pytest.raises(ValueError, match=field):
        RetrainConfig(**{field: value})


def test_cache_features_conflicts_with_fine_tuning_when_both_set():
    with pytest.raises(ValueError, match="cache_features"):
        RetrainConfig(cache_features=True, do_fine_tuning=True)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"do_fine_tuning": True}, False),
        ({"do_data_augmentation": True}, False),
        ({"cache_features": False}, False),
    ],
)
def test_feature_cache_defaults_on_when_module_frozen_and_no_augmentation(
    changes, expected
):
    assert RetrainConfig(**changes).use_feature_cache is expected, changes


def test_config_is_frozen_when_assigned():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetrainConfig().train_epochs = 3  # type: ignore[misc]


def test_cli_parser_imports_no_tensorflow_when_built():
    code = (
        "import sys, argparse\n"
        "import imagehub.cli._retrain as r\n"
        "p = argparse.ArgumentParser(); s = p.add_subparsers()\n"
        "r.add_parser(s)\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("bad", ["image_dir", "tfhub_module"])
def test_cli_exits_2_naming_the_flag_when_its_path_is_missing(
    bad, tmp_path, capsys
):
    from imagehub.cli import main
    from imagehub.testing import write_image_folder
    from imagehub.testing import write_tiny_model

    paths = {
        "image_dir": str(tmp_path / "images"),
        "tfhub_module": str(tmp_path / "module"),
    }
    if bad != "image_dir":
        write_image_folder(paths["image_dir"], per_class=2, size=(8, 8))
    if bad != "tfhub_module":
        write_tiny_model(paths["tfhub_module"])
    paths[bad] = str(tmp_path / "missing")
    code = main(
        ["retrain", "--image_dir", paths["image_dir"]]
        + ["--tfhub_module", paths["tfhub_module"]]
        + ["--saved_model_dir", str(tmp_path / "out")]
    )
    err = capsys.readouterr().err
    assert code == 2, f"a bad --{bad} is a usage error (exit 2): {err}"
    assert f"imagehub retrain: error: --{bad}" in err, err
    assert "Traceback" not in err, err
    assert not (tmp_path / "out").exists(), "nothing may be exported"


def test_image_dir_with_one_class_is_a_flag_error_when_retraining(tmp_path):
    from imagehub import testing
    from imagehub.retrain import FlagValueError
    from imagehub.retrain import make_image_classifier

    testing.write_image_folder(tmp_path / "one", num_classes=1, per_class=2)
    with pytest.raises(FlagValueError) as caught:
        make_image_classifier(image_dir=str(tmp_path / "one"))
    message = str(caught.value)
    assert message.startswith("--image_dir: "), message
    assert "at least 2 classes; found 1 class folders" in message, message


def test_every_field_has_help_when_flags_are_built():
    from imagehub.retrain._config import field_help

    helps = field_help()
    names = [f.name for f in dataclasses.fields(RetrainConfig)]
    assert list(helps) == names, "one help text per field, in field order"
    missing = [name for name, text in helps.items() if not text.strip()]
    assert not missing, (
        f"fields without a docstring (their flag's help): {missing}"
    )
    assert helps["batch_size"] == (
        "Number of images in each training step's batch."
    ), helps["batch_size"]
    assert "2 random operations" in helps["augmentation"], helps["augmentation"]
