"""The image architectures of `keras.applications`, by class name.

Each entry knows its module (for `preprocess_input`), its default and
smallest input size, whether it accepts any input size, and which
width multipliers (`alpha`) it has. Names are case-insensitive.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from imagehub.spec import TASK_CLASSIFICATION
from imagehub.spec import TASK_FEATURE_VECTOR
from imagehub.spec import TASKS

_log = logging.getLogger(__name__)

WEIGHTS_IMAGENET = "imagenet"
WEIGHTS_NONE = "none"
# The license of the Keras ImageNet weights (keras-team/keras-applications).
_IMAGENET_LICENSE = "Apache-2.0 (Keras Applications ImageNet weights)"


@dataclasses.dataclass(frozen=True)
class ArchSpec:
    """One `keras.applications` architecture.

    Attributes:
        name: The Keras class name, e.g. ``"MobileNetV3Small"``.
        module: The `keras.applications` submodule holding
            `preprocess_input`, e.g. ``"mobilenet_v3"``.
        default_size: The ImageNet training size (square side).
        min_size: The smallest side the network accepts.
        any_size: True when height and width may be left undefined.
        alphas: Width multipliers the architecture offers (empty if none).
    """

    name: str
    module: str
    default_size: int = 224
    min_size: int = 32
    any_size: bool = True
    alphas: tuple[float, ...] = ()


def _specs() -> list[ArchSpec]:
    specs = [
        ArchSpec("Xception", "xception", 299, 71),
        ArchSpec("VGG16", "vgg16"),
        ArchSpec("VGG19", "vgg19"),
        ArchSpec("ResNet50", "resnet"),
        ArchSpec("ResNet101", "resnet"),
        ArchSpec("ResNet152", "resnet"),
        ArchSpec("ResNet50V2", "resnet_v2"),
        ArchSpec("ResNet101V2", "resnet_v2"),
        ArchSpec("ResNet152V2", "resnet_v2"),
        ArchSpec("InceptionV3", "inception_v3", 299, 75),
        ArchSpec("InceptionResNetV2", "inception_resnet_v2", 299, 75),
        ArchSpec("MobileNet", "mobilenet", alphas=(0.25, 0.5, 0.75, 1.0)),
        ArchSpec(
            "MobileNetV2",
            "mobilenet_v2",
            alphas=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
        ),
        ArchSpec("MobileNetV3Small", "mobilenet_v3", alphas=(0.75, 1.0)),
        ArchSpec("MobileNetV3Large", "mobilenet_v3", alphas=(0.75, 1.0)),
        ArchSpec("DenseNet121", "densenet"),
        ArchSpec("DenseNet169", "densenet"),
        ArchSpec("DenseNet201", "densenet"),
        # NASNet's ImageNet weights need a static input shape.
        ArchSpec("NASNetMobile", "nasnet", 224, 32, any_size=False),
        ArchSpec("NASNetLarge", "nasnet", 331, 32, any_size=False),
    ]
    b_sizes = (224, 240, 260, 300, 380, 456, 528, 600)
    specs += [
        ArchSpec(f"EfficientNetB{i}", "efficientnet", size)
        for i, size in enumerate(b_sizes)
    ]
    v2_sizes = {
        "B0": 224,
        "B1": 240,
        "B2": 260,
        "B3": 300,
        "S": 384,
        "M": 480,
        "L": 480,
    }
    specs += [
        ArchSpec(f"EfficientNetV2{v}", "efficientnet_v2", size)
        for v, size in v2_sizes.items()
    ]
    specs += [
        ArchSpec(f"ConvNeXt{v}", "convnext")
        for v in ("Tiny", "Small", "Base", "Large", "XLarge")
    ]
    # RegNet was in tf.keras.applications but is not in Keras 3.
    specs += [
        ArchSpec(f"RegNet{k}{n}", "regnet")
        for k in ("X", "Y")
        for n in (
            "002",
            "004",
            "006",
            "008",
            "016",
            "032",
            "040",
            "064",
            "080",
            "120",
            "160",
            "320",
        )
    ]
    return specs


_ALL = {spec.name.lower(): spec for spec in _specs()}


def _available() -> dict[str, ArchSpec]:
    """The entries this Keras version actually has."""
    import keras

    return {
        key: spec
        for key, spec in _ALL.items()
        if hasattr(keras.applications, spec.name)
    }


def arch_names() -> list[str]:
    """Returns the Keras class names of the architectures available."""
    return [spec.name for spec in _available().values()]


def get_arch(name: str) -> ArchSpec:
    """Looks up an architecture by Keras class name, case-insensitively.

    Raises:
        ValueError: Unknown name; the message lists the valid names.
    """
    available = _available()
    spec = available.get(str(name).lower())
    if spec is None:
        raise ValueError(
            f"Unknown architecture {name!r}; expected one of the "
            f"keras.applications class names (case-insensitive): "
            f"{', '.join(s.name for s in available.values())}"
        )
    return spec


def preprocess_fn(name: str):
    """Returns the architecture's `preprocess_input` (takes [0, 255])."""
    import importlib

    spec = get_arch(name)
    module = importlib.import_module(f"keras.applications.{spec.module}")
    return module.preprocess_input


def _weights_arg(weights: str | os.PathLike[str] | None) -> str | None:
    if weights is None:
        return None
    text = os.fspath(weights)
    if text.lower() == WEIGHTS_NONE:
        return None
    if text.lower() == WEIGHTS_IMAGENET:
        return WEIGHTS_IMAGENET
    if not os.path.isfile(text):
        raise ValueError(
            f"weights={text!r} is neither 'imagenet', 'none' nor an "
            "existing weights file"
        )
    return text


def build_arch(
    name: str,
    alpha: float | None = None,
    weights: str | os.PathLike[str] | None = WEIGHTS_IMAGENET,
    image_size: tuple[int, int] | None = None,
    task: str = TASK_FEATURE_VECTOR,
) -> Any:
    """Builds a `keras.applications` network ready for export.

    For a feature vector the network has no top and ends in global average
    pooling (``pooling="avg"``); for classification it keeps its ImageNet
    top, without the final softmax (logits).

    Args:
        name: Keras class name, case-insensitive (``"mobilenet"``).
        alpha: Width multiplier, for architectures that have one.
        weights: ``"imagenet"`` (Keras downloads them), ``"none"``/None
            (random initialisation) or the path of a local weights file.
        image_size: (height, width) to build for where the size is fixed
            (classifiers, NASNet); feature vectors of the other
            architectures accept any size (pass the default size to the
            exporter instead).
        task: ``"feature_vector"`` or ``"classification"``.

    Returns:
        The `keras.Model`, taking input as its `preprocess_input` returns.

    Raises:
        ValueError: Unknown name, alpha for an architecture without one,
            a weights file that does not fit (naming the first layer that
            does not), or a failed ImageNet download.
    """
    import keras

    from imagehub.export._weights import load_weights_checked

    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {TASKS}")
    spec = get_arch(name)
    kwargs: dict[str, Any] = {}
    if alpha is not None:
        if not spec.alphas:
            raise ValueError(
                f"alpha={alpha} given, but {spec.name} has no width "
                "multiplier; alpha applies to "
                + ", ".join(s.name for s in _available().values() if s.alphas)
            )
        kwargs["alpha"] = float(alpha)
    weights_arg = _weights_arg(weights)
    classify = task == TASK_CLASSIFICATION
    if not classify and spec.any_size:
        shape: tuple[int | None, ...] = (None, None, 3)
    elif image_size is not None:
        shape = (int(image_size[0]), int(image_size[1]), 3)
    else:
        shape = (spec.default_size, spec.default_size, 3)
    if classify:
        kwargs["include_top"] = True
        kwargs["classifier_activation"] = None
    else:
        kwargs["include_top"] = False
        kwargs["pooling"] = "avg"
    constructor = getattr(keras.applications, spec.name)
    is_file = weights_arg not in (None, WEIGHTS_IMAGENET)
    try:
        model = constructor(
            input_shape=shape,
            weights=None if is_file else weights_arg,
            **kwargs,
        )
    except Exception as e:  # keras.utils.get_file raises bare Exception
        if weights_arg == WEIGHTS_IMAGENET and not isinstance(e, ValueError):
            raise ValueError(
                f"Could not download the ImageNet weights of {spec.name}: "
                f"{e}. Without network access pass --weights PATH (a local "
                "weights file) or --weights none."
            ) from e
        if isinstance(e, (ValueError, OSError)):
            raise ValueError(f"Could not build {spec.name}: {e}") from e
        raise
    if is_file:
        load_weights_checked(model, str(weights_arg))
    _log.info(
        "Built %s (alpha=%s, weights=%s, input %s)",
        spec.name,
        alpha,
        weights_arg,
        shape,
    )
    return model


def _license_beside(weights_file: str) -> str:
    """The license of a weights file, from a LICENSE file beside it."""
    folder = os.path.dirname(os.path.abspath(weights_file))
    for name in ("LICENSE.txt", "LICENSE"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            if "Apache License, Version 2.0" in text:
                return f"Apache-2.0 (see {name} beside the weights)"
            return f"see {name} beside the weights"
    return ""


def arch_options(
    name: str,
    alpha: float | None = None,
    weights: str | os.PathLike[str] | None = WEIGHTS_IMAGENET,
    task: str = TASK_FEATURE_VECTOR,
) -> dict[str, Any]:
    """Returns the export options that go with `build_arch`'s model.

    The architecture's own `preprocess_input` (folded into the graph, so
    the SavedModel takes [0, 1] RGB), its sizes, and source and license
    strings for the model card.
    """
    spec = get_arch(name)
    weights_arg = _weights_arg(weights)
    source = f"keras.applications.{spec.name}"
    if alpha is not None:
        source += f"(alpha={alpha})"
    if weights_arg == WEIGHTS_IMAGENET:
        source += ", ImageNet weights"
        license_ = _IMAGENET_LICENSE
    elif weights_arg is None:
        source += ", random weights"
        license_ = "Apache-2.0"
    else:
        source += f", weights {os.path.basename(weights_arg)}"
        license_ = _license_beside(weights_arg)
    fixed = task == TASK_CLASSIFICATION or not spec.any_size
    return {
        "preprocessing": spec.name,
        "image_size": (spec.default_size, spec.default_size),
        "min_size": None if fixed else (spec.min_size, spec.min_size),
        "source": source,
        "license": license_,
    }
