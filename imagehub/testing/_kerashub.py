"""Tiny KerasHub models of each exportable family, saved as local presets.

Random weights and sizes of a few thousand parameters, so an export of each
takes seconds. The converters carry the scalings real presets use (ImageNet
mean and standard deviation, [-1, 1], [0, 1]).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SIZE = 32


def _mean_std(mean: tuple, std: tuple) -> dict[str, Any]:
    return {
        "scale": [1.0 / (255.0 * s) for s in std],
        "offset": [-m / s for m, s in zip(mean, std, strict=True)],
    }


MINUS_ONE_ONE = {"scale": 1.0 / 127.5, "offset": -1.0}
ZERO_ONE = {"scale": 1.0 / 255.0, "offset": None}


# The dimensions every tiny transformer here shares.
_TINY_TRANSFORMER: dict[str, Any] = {
    "patch_size": 8,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 16,
}


def _vit(size: int) -> Any:
    from keras_hub.models import ViTBackbone

    return ViTBackbone(
        image_shape=(size, size, 3), mlp_dim=32, **_TINY_TRANSFORMER
    )


def _deit(size: int) -> Any:
    from keras_hub.models import DeiTBackbone

    return DeiTBackbone(
        image_shape=(size, size, 3), intermediate_dim=32, **_TINY_TRANSFORMER
    )


def _dinov2(size: int) -> Any:
    from keras_hub.models import DINOV2Backbone

    return DINOV2Backbone(
        image_shape=(size, size, 3),
        position_embedding_shape=(size, size, 3),
        intermediate_dim=32,
        **_TINY_TRANSFORMER,
    )


def _two_towers(kind: str, size: int) -> Any:
    """A CLIP or SigLIP backbone: vision and text encoders."""
    from keras_hub import models

    vision = getattr(models, f"{kind}VisionEncoder")(
        image_shape=(size, size, 3), intermediate_dim=32, **_TINY_TRANSFORMER
    )
    text_options = {
        "vocabulary_size": 50,
        "embedding_dim": 16,
        "hidden_dim": 16,
        "num_layers": 1,
        "num_heads": 2,
        "intermediate_dim": 32,
    }
    if kind == "CLIP":
        text = models.CLIPTextEncoder(**text_options, max_sequence_length=8)
        return models.CLIPBackbone(vision, text, projection_dim=12)
    text = models.SigLIPTextEncoder(**text_options)
    return models.SigLIPBackbone(vision, text)


def _siglip(size: int) -> Any:
    return _two_towers("SigLIP", size)


def _clip(size: int) -> Any:
    return _two_towers("CLIP", size)


def _resnet(size: int) -> Any:
    from keras_hub.models import ResNetBackbone

    return ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
    )


def _efficientnet(size: int) -> Any:
    from keras_hub.models import EfficientNetBackbone

    return EfficientNetBackbone(
        stackwise_kernel_sizes=[3, 3],
        stackwise_num_repeats=[1, 1],
        stackwise_input_filters=[8, 8],
        stackwise_output_filters=[8, 16],
        stackwise_expansion_ratios=[1, 2],
        stackwise_squeeze_and_excite_ratios=[0.0, 0.25],
        stackwise_strides=[1, 2],
        stackwise_block_types=["fused", "unfused"],
        stackwise_width_coefficients=[1.0, 1.0],
        stackwise_depth_coefficients=[1.0, 1.0],
    )


def _mobilenet(size: int) -> Any:
    from keras_hub.models import MobileNetBackbone

    return MobileNetBackbone(
        stackwise_expansion=[[16], [32]],
        stackwise_num_blocks=[1, 1],
        stackwise_num_filters=[[8], [16]],
        stackwise_kernel_size=[[3], [3]],
        stackwise_num_strides=[[2], [2]],
        stackwise_se_ratio=[[None], [0.25]],
        stackwise_activation=[["relu"], ["hard_swish"]],
        stackwise_padding=[[1], [1]],
        output_num_filters=32,
        depthwise_filters=8,
        depthwise_stride=2,
        depthwise_residual=False,
        last_layer_filter=32,
        squeeze_and_excite=0.5,
    )


def _mobilenetv5(size: int) -> Any:
    from keras_hub.models import MobileNetV5Backbone

    def per_stage(first: Any, second: Any) -> list:
        return [[first], [second, second]]

    return MobileNetV5Backbone(
        stackwise_block_types=[["er"], ["uir", "uir"]],
        stackwise_num_blocks=[1, 2],
        stackwise_num_filters=[[8], [16, 16]],
        stackwise_strides=[[2], [2, 1]],
        stackwise_act_layers=per_stage("relu", "relu"),
        stackwise_exp_ratios=per_stage(2.0, 2.0),
        stackwise_se_ratios=per_stage(0.0, 0.0),
        stackwise_dw_kernel_sizes=per_stage(0, 3),
        stackwise_dw_start_kernel_sizes=per_stage(0, 0),
        stackwise_dw_end_kernel_sizes=per_stage(0, 0),
        stackwise_exp_kernel_sizes=per_stage(3, 0),
        stackwise_pw_kernel_sizes=per_stage(1, 0),
        stackwise_num_heads=per_stage(0, 0),
        stackwise_key_dims=per_stage(0, 0),
        stackwise_value_dims=per_stage(0, 0),
        stackwise_kv_strides=per_stage(0, 0),
        stackwise_use_cpe=per_stage(False, False),
        use_msfa=False,
        stem_size=8,
    )


# family -> (backbone builder, converter class name, converter scaling)
FAMILIES: dict[str, tuple[Callable[[int], Any], str, dict[str, Any]]] = {
    "vit": (_vit, "ViTImageConverter", MINUS_ONE_ONE),
    "deit": (
        _deit,
        "DeiTImageConverter",
        _mean_std(IMAGENET_MEAN, IMAGENET_STD),
    ),
    "dinov2": (
        _dinov2,
        "DINOV2ImageConverter",
        _mean_std(IMAGENET_MEAN, IMAGENET_STD),
    ),
    "siglip": (_siglip, "SigLIPImageConverter", MINUS_ONE_ONE),
    "clip": (_clip, "CLIPImageConverter", _mean_std(CLIP_MEAN, CLIP_STD)),
    "resnet": (
        _resnet,
        "ResNetImageConverter",
        _mean_std(IMAGENET_MEAN, IMAGENET_STD),
    ),
    "efficientnet": (_efficientnet, "EfficientNetImageConverter", ZERO_ONE),
    "mobilenet": (_mobilenet, "MobileNetImageConverter", ZERO_ONE),
    "mobilenetv5": (_mobilenetv5, "MobileNetV5ImageConverter", MINUS_ONE_ONE),
}
# family -> the ImageClassifier class of its classifier presets
CLASSIFIERS = {
    "vit": ("ViTImageClassifier", "ViTImageClassifierPreprocessor"),
    "resnet": ("ResNetImageClassifier", "ResNetImageClassifierPreprocessor"),
    "mobilenet": (
        "MobileNetImageClassifier",
        "MobileNetImageClassifierPreprocessor",
    ),
}


def kerashub_model(
    family: str,
    *,
    num_classes: int | None = None,
    size: int = SIZE,
    seed: int = 0,
) -> tuple[Any, Any]:
    """Builds (backbone or classifier, its ImageConverter) of `family`.

    With `num_classes`, the model is the family's ImageClassifier with a
    preprocessor holding the converter.
    """
    import keras
    import keras_hub

    if family not in FAMILIES:
        raise ValueError(
            f"Unknown family {family!r}; expected one of {sorted(FAMILIES)}"
        )
    build, converter_name, scaling = FAMILIES[family]
    keras.utils.set_random_seed(seed)
    backbone = build(size)
    converter = getattr(keras_hub.layers, converter_name)(
        image_size=(size, size), **scaling
    )
    if num_classes is None:
        return backbone, converter
    if family not in CLASSIFIERS:
        raise ValueError(
            f"No classifier for {family!r}; expected one of "
            f"{sorted(CLASSIFIERS)}"
        )
    task_name, preprocessor_name = CLASSIFIERS[family]
    preprocessor = getattr(keras_hub.models, preprocessor_name)(
        image_converter=converter
    )
    task = getattr(keras_hub.models, task_name)(
        backbone=backbone, num_classes=num_classes, preprocessor=preprocessor
    )
    return task, converter


def write_kerashub_preset(
    path: str | os.PathLike[str],
    family: str,
    *,
    num_classes: int | None = None,
    size: int = SIZE,
    seed: int = 0,
    license_text: str | None = None,
) -> tuple[Any, Any]:
    """Saves a tiny `family` model as a KerasHub preset folder at `path`.

    Returns:
        (the saved model, its ImageConverter), for comparisons.
    """
    path = os.fspath(path)
    model, converter = kerashub_model(
        family, num_classes=num_classes, size=size, seed=seed
    )
    model.save_to_preset(path)
    if num_classes is None:
        converter.save_to_preset(path)
    if license_text is not None:
        with open(os.path.join(path, "LICENSE"), "w", encoding="utf-8") as f:
            f.write(license_text)
    return model, converter


def write_text_preset(path: str | os.PathLike[str]) -> Any:
    """Saves a tiny BERT backbone (a text model) as a preset folder."""
    from keras_hub.models import BertBackbone

    backbone = BertBackbone(
        vocabulary_size=50,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
    )
    backbone.save_to_preset(os.fspath(path))
    return backbone
