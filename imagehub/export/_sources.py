"""Turning what users have into a Keras model the exporter can call.

A `.keras` file is loaded with `keras.saving.load_model`; a SavedModel
without the reusable API (e.g. what Keras 3's `Model.export()` writes) is
wrapped in a `keras.layers.TFSMLayer` inside a one-layer functional model;
a KerasHub model or preset becomes a functional model with its family's
pooling, and brings its own scaling, size, labels and license
(`resolve_source`, see `_kerashub.py`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from imagehub.spec import OUTPUT_KEYS
from imagehub.spec import SIGNATURE_FLOAT

_log = logging.getLogger(__name__)


def load_keras_model(path: str | os.PathLike[str]) -> Any:
    """Loads a saved Keras model (``.keras``, or a legacy ``.h5``).

    Raises:
        ValueError: The file does not exist or is not a Keras model.
    """
    import keras

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"keras_model={path!r}: no such file")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for a bad file.
        raise ValueError(
            f"keras_model={path!r} could not be loaded as a Keras model: {e}"
        ) from e


def _endpoint_names(loaded: Any) -> list[str]:
    names = list(loaded.signatures.keys())
    if hasattr(loaded, "serve") and "serve" not in names:
        names.append("serve")
    return names


def _input_spec(fn: Any) -> Any:
    """The one image TensorSpec a signature or endpoint takes."""
    args, kwargs = fn.structured_input_signature
    specs = [*args, *kwargs.values()]
    if len(specs) != 1:
        raise ValueError(
            f"The endpoint takes {len(specs)} inputs; an image model "
            "takes exactly one [batch, height, width, 3] tensor"
        )
    return specs[0]


def wrap_saved_model(
    path: str | os.PathLike[str],
    signature: str | None = None,
    image_size: tuple[int, int] | None = None,
) -> Any:
    """Wraps a SavedModel's signature as a single-output Keras model.

    Args:
        path: A SavedModel directory.
        signature: The signature or endpoint to call (default
            ``serving_default``, else ``serve``).
        image_size: (height, width) for a signature that leaves them
            undefined.

    Returns:
        A `keras.Model` mapping images to the signature's output.

    Raises:
        ValueError: No such signature (the message lists those there are),
            a signature that does not take one image tensor, or several
            outputs.
    """
    import keras
    import tensorflow as tf

    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"saved_model={path!r} is not a SavedModel directory")
    loaded = tf.saved_model.load(path)
    names = _endpoint_names(loaded)
    if signature is None:
        signature = SIGNATURE_FLOAT if SIGNATURE_FLOAT in names else None
        if signature is None and names:
            signature = names[0]
    if signature not in names:
        raise ValueError(
            f"signature={signature!r} is not in the SavedModel {path}; "
            f"it has {names or 'no signatures'}"
        )
    if signature in loaded.signatures:
        fn = loaded.signatures[signature]
    else:
        fn = getattr(loaded, signature).concrete_functions[0]
    spec = _input_spec(fn)
    shape = list(spec.shape)
    if len(shape) != 4 or shape[-1] not in (3, None):
        raise ValueError(
            f"The signature {signature!r} takes shape {spec.shape}; an "
            "image model takes [batch, height, width, 3]"
        )
    height, width = shape[1], shape[2]
    if height is None or width is None:
        if image_size is None:
            height = width = None
        else:
            height, width = int(image_size[0]), int(image_size[1])
    layer = keras.layers.TFSMLayer(path, call_endpoint=signature)
    inputs = keras.Input(shape=(height, width, 3), name="images")
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        keys = sorted(outputs)
        if len(keys) != 1:
            wanted = [k for k in keys if k in OUTPUT_KEYS.values()]
            if len(wanted) != 1:
                raise ValueError(
                    f"The signature {signature!r} has outputs {keys}; an "
                    "image model for export must have exactly one"
                )
            keys = wanted
        outputs = outputs[keys[0]]
    _log.info("Wrapped %s signature %r", path, signature)
    name = os.path.basename(os.path.normpath(path)) or "saved_model"
    return keras.Model(inputs, outputs, name=_safe_name(name))


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def load_source(
    source: Any,
    signature: str | None = None,
    image_size: tuple[int, int] | None = None,
) -> Any:
    """Returns a Keras model for a model, a `.keras` file or a SavedModel."""
    if not isinstance(source, (str, os.PathLike)):
        return source
    path = os.fspath(source)
    if os.path.isdir(path):
        return wrap_saved_model(path, signature, image_size)
    return load_keras_model(path)


@dataclasses.dataclass(frozen=True)
class ExportSource:
    """A source resolved for the exporter: the model and what it says about
    itself, the caller's arguments taking precedence.

    Attributes:
        model: A Keras model from (scaled) images to [batch, outputs].
        input_range: The range the model expects, or None.
        preprocessing: A name or a function of [0, 255] images, or None.
        image_size: The default (height, width), or None.
        labels: Class names from the source, or None.
        license: License text from the source, or "".
        source: What the card names as the source, or None.
        extra: Card fields from the source.
        hparams: The overrides to offer (None: all that apply).
    """

    model: Any
    input_range: Any = None
    preprocessing: Any = None
    image_size: tuple[int, int] | None = None
    labels: tuple[str, ...] | None = None
    license: str = ""
    source: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    hparams: tuple[str, ...] | None = None


def resolve_source(
    source: Any,
    task: str,
    *,
    signature: str | None = None,
    image_size: tuple[int, int] | None = None,
    input_range: Any = None,
    preprocessing: Any = None,
) -> ExportSource:
    """Resolves a model, a file, a SavedModel, a KerasHub model or preset.

    Raises:
        ValueError: A source that cannot be exported, or a KerasHub
            backbone without an ImageConverter and no scaling given.
    """
    from imagehub.export import _kerashub
    from imagehub.export import _kerashub_preset

    path = os.fspath(source) if isinstance(source, os.PathLike) else source
    if isinstance(path, str) and _kerashub_preset.is_preset_path(path):
        source = _kerashub_preset.load_preset(path, task, image_size=image_size)
    if _kerashub.is_keras_hub_model(source):
        hub = _kerashub.keras_hub_source(source, task, image_size=image_size)
        if input_range is None and preprocessing is None:
            if not hub.has_converter:
                raise ValueError(
                    "The KerasHub model carries no ImageConverter, so the "
                    "scaling it expects is unknown: pass input_range or "
                    "preprocessing, or export "
                    "imagehub.export.KerasHubModel(model, converter=...) "
                    "or the preset (imagehub.export.load_preset(PRESET))"
                )
            input_range, preprocessing = hub.input_range, hub.preprocessing
        return ExportSource(
            model=hub.model,
            input_range=input_range,
            preprocessing=preprocessing,
            image_size=image_size or hub.image_size,
            labels=hub.labels,
            license=hub.license,
            source=hub.source,
            extra=hub.extra,
            hparams=hub.hparams,
        )
    origin = path if isinstance(path, str) else None
    return ExportSource(
        model=load_source(source, signature=signature, image_size=image_size),
        input_range=input_range,
        preprocessing=preprocessing,
        image_size=image_size,
        source=origin,
    )
