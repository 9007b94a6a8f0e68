"""Bad input gets a clear error naming the problem and the fix."""

import keras
import pytest

from imagehub.cli import main
from imagehub.export import build_arch
from imagehub.export import export_feature_vector
from imagehub.export import get_arch

DEFAULT_WEIGHTS = "imagehub/_default/weights/mobilenet_2_5_224_tf_no_top.h5"


def test_arch_names_are_case_insensitive():
    assert get_arch("mobilenetv3small").name == "MobileNetV3Small"
    assert get_arch("EFFICIENTNETB0").name == "EfficientNetB0"
    assert get_arch("mobilenet").name == "MobileNet"


def test_unknown_arch_lists_valid_names():
    with pytest.raises(ValueError) as info:
        get_arch("mobilenetv9")
    message = str(info.value)
    for name in ("MobileNet", "MobileNetV3Small", "EfficientNetB0", "ResNet50"):
        assert name in message, f"{name} missing from: {message}"


def test_cli_unknown_arch_lists_valid_names(tmp_path, capsys):
    out = str(tmp_path / "m")
    code = main(["export", "--arch", "mobilenetv9", "--out", out])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Unknown architecture 'mobilenetv9'" in err, err
    assert "MobileNetV3Small" in err, err
    assert not (tmp_path / "m").exists()


def test_weights_file_that_does_not_fit_names_first_layer():
    # The file holds MobileNet alpha 0.25 weights; alpha 0.5 differs at once.
    with pytest.raises(ValueError) as info:
        build_arch("mobilenet", alpha=0.5, weights=DEFAULT_WEIGHTS)
    message = str(info.value)
    assert "'conv1'" in message, message
    assert "(3, 3, 3, 16)" in message and "(3, 3, 3, 8)" in message, message


def test_alpha_for_arch_without_one_is_refused():
    with pytest.raises(ValueError, match="no width multiplier"):
        build_arch("resnet50", alpha=0.5, weights="none")


def test_output_not_rank_2_says_add_global_pooling(tmp_path):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match="pooling='avg'"):
        export_feature_vector(model, str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()


def test_bad_input_range_names_the_choices(tmp_path):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(ValueError, match="0,1, -1,1, 0,255"):
        export_feature_vector(model, str(tmp_path / "m"), input_range=(0, 2))
