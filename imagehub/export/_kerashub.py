"""KerasHub image backbones and classifiers as sources of the exporter.

A KerasHub model takes images as its `ImageConverter` leaves them: resized,
then ``x * scale + offset`` on [0, 255] RGB. The export folds the scale and
offset into the graph, so the SavedModel takes [0, 1] RGB (SPEC I2) like
every other export; the converter's image size becomes the card's default
size (the bytes signature resizes to it). Resizing is not folded into
`__call__`: callers feed a permitted size, as for any reusable SavedModel.

Feature vectors are the pooled output each family documents (`POOLINGS`):
the mean of the final feature map for convolutional backbones; the class
token of the final, layer-normalised sequence for ViT, DeiT and DINOv2/v3
(the mean of the tokens for a ViT without one, as its classifier does);
the image embedding of `get_vision_embeddings` for CLIP and SigLIP (CLIP:
the projected class token; SigLIP: its attention-pooling head). The card
says which (``extra["keras_hub"]``).

Nothing here imports keras_hub until a function needs it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from imagehub.spec import TASK_CLASSIFICATION

_log = logging.getLogger(__name__)

KERAS_HUB_PIP = (
    "pip install 'imagehub[keras-hub]' (beside tensorflow-cpu: pip install "
    "'imagehub[keras-hub-core]' && pip install --no-deps keras-hub "
    "tensorflow-text)"
)

POOL_MEAN_MAP = "mean_feature_map"
POOL_CLASS_TOKEN = "class_token"
POOL_MEAN_TOKENS = "mean_tokens"
POOL_VISION_EMBEDDING = "vision_embedding"
POOLINGS = {
    POOL_MEAN_MAP: "the mean of the final feature map over height and "
    "width (global average pooling)",
    POOL_CLASS_TOKEN: "the class token (position 0) of the final, "
    "layer-normalised token sequence",
    POOL_MEAN_TOKENS: "the mean of the final token sequence (the model has "
    "no class token; its classifier pools the same way)",
    POOL_VISION_EMBEDDING: "the image embedding of get_vision_embeddings "
    "(not L2-normalised)",
}
_TOKEN_FAMILIES = frozenset(
    {"ViTBackbone", "DeiTBackbone", "DINOV2Backbone", "DINOV3Backbone"}
)
_VISION_TOWERS = frozenset(
    {"CLIPBackbone", "SigLIPBackbone", "MetaCLIP2Backbone"}
)
# Built for one size, but they interpolate their position embeddings to the
# image_shape they are built with: another --image_size rebuilds them.
INTERPOLATING = frozenset({"DINOV2Backbone"})

_SEGMENTATION = (
    "an image segmenter: its output is a per-pixel map for a decoder, not "
    "a feature vector; export its image encoder's preset instead"
)
_DETECTION = (
    "an object detector: its outputs are boxes and feature pyramids, not a "
    "feature vector; export its image encoder's preset instead"
)
_VISION_LANGUAGE = (
    "a vision-language model: it generates text from images and a prompt, "
    "and its vision tower has no pooled image embedding"
)
REFUSED_FAMILIES = {
    "SAMBackbone": "a promptable segmenter: it takes point and box "
    "prompts besides images and returns masks",
    "SAM3PromptableConceptBackbone": "a promptable segmenter: it takes "
    "text and box prompts besides images and returns masks",
    "DeepLabV3Backbone": _SEGMENTATION,
    "SegFormerBackbone": _SEGMENTATION,
    "BASNetBackbone": _SEGMENTATION,
    "DepthAnythingBackbone": "a depth estimator: its output is a depth "
    "map, not a feature vector",
    "RetinaNetBackbone": _DETECTION,
    "DFineBackbone": _DETECTION,
    "VideoPrismBackbone": "a video model: it takes frame sequences, not images",
    "PARSeqBackbone": "a text recogniser: it decodes characters from images",
    "PaliGemmaBackbone": _VISION_LANGUAGE,
    "Gemma3Backbone": _VISION_LANGUAGE,
    "Gemma3nBackbone": _VISION_LANGUAGE,
    "Gemma4Backbone": _VISION_LANGUAGE,
    "BLIP2Backbone": _VISION_LANGUAGE,
    "T5Gemma2Backbone": _VISION_LANGUAGE,
    "Qwen3_5Backbone": _VISION_LANGUAGE,
    "Qwen3_5MoeBackbone": _VISION_LANGUAGE,
    "StableDiffusion3Backbone": "an image generator: it maps text and "
    "noise to images",
    "FluxBackbone": "an image generator: it maps text and noise to images",
}

_NO_DROPOUT_OVERRIDE = (
    "no dropout_rate override: the family's embedding dropout reaches the "
    "output along the residual stream; training=True runs the preset's own "
    "dropout rates"
)


class KerasHubFamilyError(ValueError):
    """A KerasHub model imagehub cannot export as an image model."""


@dataclasses.dataclass(frozen=True)
class KerasHubModel:
    """A KerasHub model with what its preset says about it.

    Attributes:
        model: A `keras_hub.models.Backbone` or `ImageClassifier`.
        converter: Its `keras_hub.layers.ImageConverter`, or None (a
            classifier's own preprocessor's converter is used if present).
        preset: The preset it came from, for the card.
        license: The preset's license text, or "".
        labels: Class names in index order (classifiers), or None.
        labels_source: Where the labels came from, for the card.
    """

    model: Any
    converter: Any = None
    preset: str | None = None
    license: str = ""
    labels: tuple[str, ...] | None = None
    labels_source: str | None = None


@dataclasses.dataclass(frozen=True)
class KerasHubExport:
    """What the exporter needs: a plain Keras model and the facts of it.

    Attributes:
        model: A functional Keras model from converter-scaled images to
            [batch, num_outputs].
        input_range: One of the exporter's input ranges, or None.
        preprocessing: A function of [0, 255] images, or None.
        image_size: The default (height, width), or None.
        labels: Class names, or None.
        license: License text, or "".
        source: The card's source.
        extra: The card's ``extra["keras_hub"]`` record.
        has_converter: Whether an ImageConverter gave the scaling.
        hparams: The overrides to offer (None: all that apply).
    """

    model: Any
    input_range: tuple[float, float] | None
    preprocessing: Any
    image_size: tuple[int, int] | None
    labels: tuple[str, ...] | None
    license: str
    source: str
    extra: dict[str, Any]
    has_converter: bool
    hparams: tuple[str, ...] | None


def import_keras_hub() -> Any:
    """Imports keras_hub, or raises ImportError with the pip line."""
    try:
        import keras_hub
    except ImportError as e:
        raise ImportError(
            f"KerasHub models need the keras-hub package ({e}). Install it "
            f"with: {KERAS_HUB_PIP}"
        ) from e
    return keras_hub


def is_keras_hub_model(obj: Any) -> bool:
    """True for a KerasHubModel or any keras_hub model object."""
    if isinstance(obj, KerasHubModel):
        return True
    return any(
        (getattr(cls, "__module__", "") or "").startswith("keras_hub")
        for cls in type(obj).__mro__
    )


def family_name(cls: type) -> str:
    return cls.__name__.removesuffix("Backbone")


def check_family(backbone_cls: type, keras_hub: Any) -> None:
    """Refuses text models and families with no image feature vector,
    before any weights are loaded."""
    name = backbone_cls.__name__
    if name in REFUSED_FAMILIES:
        raise KerasHubFamilyError(
            f"imagehub cannot export KerasHub {family_name(backbone_cls)} "
            f"({name}): it is {REFUSED_FAMILIES[name]}. imagehub exports "
            "image feature vectors and image classifiers"
        )
    if name in _VISION_TOWERS or name in _TOKEN_FAMILIES:
        return
    if not any(
        getattr(cls, "backbone_cls", None) is backbone_cls
        for cls in _subclasses(keras_hub.layers.ImageConverter)
    ):
        raise KerasHubFamilyError(
            f"KerasHub {name} is not an image model (it has no "
            "ImageConverter; a text or audio model takes token ids or "
            "waveforms). imagehub exports image backbones and classifiers, "
            "e.g. ViT, DINOv2, EfficientNet, ResNet, MobileNet"
        )


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    direct: list[type] = cls.__subclasses__()
    for sub in direct:
        out += [sub, *_subclasses(sub)]
    return out


def own_converter(model: Any) -> Any:
    preprocessor = getattr(model, "preprocessor", None)
    return getattr(preprocessor, "image_converter", None)


def _converter_record(converter: Any) -> dict[str, Any] | None:
    if converter is None:
        return None

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, (np.floating, np.integer)):
            return value.item()
        return value

    return {
        "class": type(converter).__name__,
        "image_size": plain(converter.image_size),
        "scale": plain(converter.scale),
        "offset": plain(converter.offset),
        "interpolation": converter.interpolation,
        "antialias": bool(converter.antialias),
        "crop_to_aspect_ratio": bool(converter.crop_to_aspect_ratio),
    }


def _per_channel(value: Any, default: float) -> np.ndarray:
    if value is None:
        value = default
    array = np.asarray(value, np.float64).reshape(-1)
    return np.broadcast_to(array, (3,)).copy()


def converter_scaling(
    converter: Any,
) -> tuple[tuple[float, float] | None, Any]:
    """(input_range, preprocessing) equal to the converter's scale and
    offset: a named range where they are one, else a function of [0, 255]
    images computing ``x * scale + offset`` per channel."""
    if getattr(converter, "data_format", "channels_last") != "channels_last":
        raise KerasHubFamilyError(
            f"The {type(converter).__name__} is channels_first; exported "
            "models are channels_last (SPEC I5). Load the preset with "
            'keras.config.set_image_data_format("channels_last")'
        )
    scale = _per_channel(converter.scale, 1.0)
    offset = _per_channel(converter.offset, 0.0)
    named = {
        (0.0, 1.0): (1.0 / 255.0, 0.0),
        (-1.0, 1.0): (2.0 / 255.0, -1.0),
        (0.0, 255.0): (1.0, 0.0),
    }
    for input_range, (s, o) in named.items():
        if np.allclose(scale, s, rtol=1e-6, atol=0) and np.allclose(
            offset, o, atol=1e-7
        ):
            return input_range, None
    scale32 = scale.astype(np.float32)
    offset32 = offset.astype(np.float32)

    def image_converter(images: Any) -> Any:
        return images * scale32 + offset32

    # The card's "scaling" names the function: name the converter instead.
    image_converter.__module__ = "keras_hub.layers"
    image_converter.__name__ = type(converter).__name__
    return None, image_converter


def _image_input(backbone: Any) -> tuple[str | None, tuple[Any, ...]]:
    """(dict key or None, (height, width, 3)) of the one image input."""
    inputs = backbone.input
    name = type(backbone).__name__
    if isinstance(inputs, dict):
        images = {k: v for k, v in inputs.items() if len(v.shape) == 4}
        others = sorted(k for k in inputs if k not in images)
        if len(images) != 1 or others:
            raise KerasHubFamilyError(
                f"KerasHub {name} takes {sorted(inputs)}; imagehub exports "
                "models that take images alone"
            )
        key, tensor = next(iter(images.items()))
    else:
        key, tensor = None, inputs
    shape = tuple(tensor.shape[1:])
    if len(shape) != 3 or shape[-1] != 3:
        raise KerasHubFamilyError(
            f"KerasHub {name} takes inputs of shape {tensor.shape}; image "
            "models take [batch, height, width, 3] (channels_last)"
        )
    return key, shape


def _backbone_of(model: Any, keras_hub: Any) -> Any:
    if isinstance(model, keras_hub.models.Backbone):
        return model
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise KerasHubFamilyError(
            f"{type(model).__name__} is neither a KerasHub Backbone nor a "
            "task with one"
        )
    return backbone


def _pooling(backbone: Any) -> str:
    name = type(backbone).__name__
    if name in _VISION_TOWERS:
        return POOL_VISION_EMBEDDING
    if name == "ViTBackbone" and not backbone.use_class_token:
        return POOL_MEAN_TOKENS
    if name in _TOKEN_FAMILIES:
        return POOL_CLASS_TOKEN
    return POOL_MEAN_MAP


def _feature_model(backbone: Any) -> tuple[Any, str, tuple[Any, ...]]:
    """(functional model: images -> [batch, features], pooling, shape)."""
    import keras

    name = type(backbone).__name__
    if name in _VISION_TOWERS:
        shape = tuple(backbone.vision_encoder.image_shape)
        inputs = keras.Input(shape=shape, name="images")
        outputs = backbone.get_vision_embeddings(inputs)
        return keras.Model(inputs, outputs), POOL_VISION_EMBEDDING, shape
    key, shape = _image_input(backbone)
    inputs = keras.Input(shape=shape, name="images")
    x = backbone({key: inputs} if key else inputs)
    pooling = _pooling(backbone)
    if isinstance(x, dict) or len(x.shape) not in (3, 4):
        raise KerasHubFamilyError(
            f"KerasHub {name} returns "
            f"{sorted(x) if isinstance(x, dict) else x.shape}; imagehub "
            "pools a [batch, height, width, channels] feature map or a "
            "[batch, tokens, channels] sequence of the families it knows"
        )
    if len(x.shape) == 4:
        if getattr(backbone, "data_format", "channels_last") != (
            "channels_last"
        ):
            raise KerasHubFamilyError(
                f"KerasHub {name} is channels_first; exports are "
                "channels_last (SPEC I5)"
            )
        outputs = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return keras.Model(inputs, outputs), POOL_MEAN_MAP, shape
    if pooling == POOL_MEAN_MAP:
        raise KerasHubFamilyError(
            f"KerasHub {name} returns a token sequence {x.shape} and "
            "imagehub does not know which token (or mean) its family "
            "documents as the image feature"
        )
    if pooling == POOL_MEAN_TOKENS:
        outputs = keras.ops.mean(x, axis=1)
    else:
        outputs = x[:, 0, :]
    return keras.Model(inputs, outputs), pooling, shape


def _classifier_model(task: Any, keras_hub: Any) -> tuple[Any, tuple]:
    import keras

    if not isinstance(task, keras_hub.models.ImageClassifier):
        raise KerasHubFamilyError(
            f"KerasHub {type(task).__name__} is not an ImageClassifier; "
            "imagehub exports image classifiers and backbones"
        )
    key, shape = _image_input(task.backbone)
    inputs = keras.Input(shape=shape, name="images")
    outputs = task({key: inputs} if key else inputs)
    return keras.Model(inputs, outputs), shape


def _size_note(backbone: Any, shape: tuple[Any, ...]) -> str:
    if shape[0] is None or shape[1] is None:
        return "any height and width (convolutional)"
    size = f"{shape[0]}x{shape[1]}"
    if type(backbone).__name__ in INTERPOLATING:
        return (
            f"fixed at {size}; the family interpolates its position "
            "embeddings when built, so export the preset again with "
            "--image_size for another size"
        )
    return (
        f"fixed at {size}: the family's position embeddings are learned "
        "for that size"
    )


def keras_hub_source(
    source: Any,
    task: str,
    *,
    image_size: tuple[int, int] | None = None,
) -> KerasHubExport:
    """Turns a KerasHub model (or a KerasHubModel) into a plain Keras model
    and the facts the exporter records.

    Args:
        source: A `KerasHubModel`, a KerasHub Backbone or ImageClassifier.
        task: ``"feature_vector"`` or ``"classification"``.
        image_size: The caller's (height, width), if given.

    Raises:
        KerasHubFamilyError: A family or task imagehub cannot export.
    """
    keras_hub = import_keras_hub()
    if not isinstance(source, KerasHubModel):
        source = KerasHubModel(model=source)
    model = source.model
    backbone = _backbone_of(model, keras_hub)
    check_family(type(backbone), keras_hub)
    converter = source.converter or own_converter(model)
    if task == TASK_CLASSIFICATION:
        wrapped, shape = _classifier_model(model, keras_hub)
        what = f"logits of {type(model).__name__}"
        pooling = None
    else:
        wrapped, pooling, shape = _feature_model(backbone)
        what = POOLINGS[pooling]
    fixed = shape[0] is not None and shape[1] is not None
    size = image_size
    if size is None and fixed:
        size = (int(shape[0]), int(shape[1]))
        conv_size = getattr(converter, "image_size", None)
        if conv_size is not None and tuple(conv_size) != size:
            _log.warning(
                "The ImageConverter resizes to %s but %s is built for %s; "
                "the export uses %s",
                tuple(conv_size),
                type(backbone).__name__,
                size,
                size,
            )
    elif size is None and converter is not None and converter.image_size:
        size = (int(converter.image_size[0]), int(converter.image_size[1]))
    input_range, preprocessing = (None, None)
    if converter is not None:
        input_range, preprocessing = converter_scaling(converter)
    record = {
        "preset": source.preset,
        "family": family_name(type(backbone)),
        "class": type(model).__name__,
        "keras_hub_version": keras_hub.__version__,
        "output": what,
        "pooling": pooling,
        "sizes": _size_note(backbone, shape),
        "image_converter": _converter_record(converter),
    }
    if source.labels_source:
        record["labels_source"] = source.labels_source
    hparams = None
    if type(backbone).__name__ in _TOKEN_FAMILIES | _VISION_TOWERS:
        # Their embedding dropout feeds the residual stream, which reaches
        # the output through layer norms only: a dropout_rate override
        # there reads as dropout on the features (imagehub check, F3).
        # training=True still runs the preset's own rates.
        hparams = ()
        record["hparams"] = _NO_DROPOUT_OVERRIDE
    origin = (
        f"KerasHub preset {source.preset}"
        if source.preset
        else f"KerasHub {type(model).__name__} {model.name!r}"
    )
    return KerasHubExport(
        model=wrapped,
        input_range=input_range,
        preprocessing=preprocessing,
        image_size=size,
        labels=source.labels,
        license=source.license,
        source=origin,
        extra={"keras_hub": record},
        has_converter=converter is not None,
        hparams=hparams,
    )
