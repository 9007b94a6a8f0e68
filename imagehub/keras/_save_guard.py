"""Refuse to save, before any file is opened, what cannot be saved.

A `KerasLayer` built from an already loaded object has no handle to put
in its config, so saving a model that holds one must fail. Keras asks the
layers for their configs only after it has opened the target file for
writing (`keras/src/saving/saving_lib.py` opens the `.keras` file, the
legacy HDF5 writer the `.h5` file), so failing in `get_config` alone would
leave a half-written file behind, or truncate an older file of that name.

`install` therefore wraps the two functions Keras's `save_model` (and
`Model.save`) call to write a model file, so that they check the model's
layers first and raise before anything is written. Every other model
goes through unchanged; `get_config` still refuses on its own for the
callers that do not come through these functions.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_MARK = "_imagehub_save_guard"


def _layers(model: Any) -> list[Any]:
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is None:
        return []
    return list(flatten(include_self=True, recursive=True))


def _refuse_handleless(layer_class: type, model: Any, filepath: Any) -> None:
    names = [
        layer.name
        for layer in _layers(model)
        if isinstance(layer, layer_class) and layer.handle is None
    ]
    if names:
        raise NotImplementedError(
            f"Cannot save the model to {filepath!r}: its KerasLayer(s) "
            f"{names} wrap an already loaded object, which cannot be "
            "serialised; build them from a handle string "
            "(imagehub.KerasLayer('/path/or/url', ...)) to save the model "
            "to .keras, or use model.export() for a SavedModel. Nothing "
            "was written."
        )


def _guarded(original: Callable[..., Any], layer_class: type) -> Any:
    @functools.wraps(original)
    def save(model: Any, filepath: Any, *args: Any, **kwargs: Any) -> Any:
        _refuse_handleless(layer_class, model, filepath)
        return original(model, filepath, *args, **kwargs)

    setattr(save, _MARK, True)
    return save


def install(layer_class: type) -> None:
    """Makes Keras's model writers refuse handle-less `layer_class` layers.

    Idempotent. If this Keras keeps its writers elsewhere, nothing is
    wrapped (logged at debug level) and `get_config` still refuses, but
    only after the file was opened.
    """
    targets = []
    try:
        from keras.src.saving import saving_lib

        targets.append((saving_lib, "save_model"))
        from keras.src.legacy.saving import legacy_h5_format

        targets.append((legacy_h5_format, "save_model_to_hdf5"))
    except ImportError:  # pragma: no cover - depends on the Keras release
        logger.debug("keras keeps its model writers elsewhere")
    for module, name in targets:
        original = getattr(module, name, None)
        if original is None:  # pragma: no cover - depends on Keras
            logger.debug("keras has no %s.%s", module.__name__, name)
            continue
        if getattr(original, _MARK, False):
            continue
        setattr(module, name, _guarded(original, layer_class))
