"""Refuse to save, before any file is opened, what cannot be saved.

A `KerasLayer` built from an already loaded object has no handle to put
in its config, so saving a model that holds one must fail. Keras asks the
layers for their configs only after it has opened the target file for
writing (`keras/src/saving/saving_lib.py` opens the `.keras` file, the
legacy HDF5 writer the `.h5` file), so failing in `get_config` alone would
leave a half-written file behind, or truncate an older file of that name.

`install` therefore wraps the functions Keras's `save_model` (and
`Model.save`) call to write a model file, so that they check the model's
layers first and raise before anything is written; the tf_keras layer
does the same for tf_keras's HDF5 writer. Every other model goes through
unchanged; `get_config` still refuses on its own for the callers that do
not come through these functions.
"""

from __future__ import annotations

import functools
import importlib
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
            "(KerasLayer('/path/or/url', ...)) to save the model, or use "
            "model.export() for a SavedModel. Nothing was written."
        )


def _guarded(original: Callable[..., Any], layer_class: type) -> Any:
    @functools.wraps(original)
    def save(model: Any, filepath: Any, *args: Any, **kwargs: Any) -> Any:
        _refuse_handleless(layer_class, model, filepath)
        return original(model, filepath, *args, **kwargs)

    setattr(save, _MARK, True)
    return save


# The functions Keras's save_model and Model.save call to write a file,
# as (module, function); each takes (model, filepath, ...).
KERAS_WRITERS = (
    ("keras.src.saving.saving_lib", "save_model"),
    ("keras.src.legacy.saving.legacy_h5_format", "save_model_to_hdf5"),
)
# tf_keras serialises the config before it opens a .keras file, but its
# HDF5 writer opens the .h5 file first.
TF_KERAS_WRITERS = (
    ("tf_keras.src.saving.legacy.hdf5_format", "save_model_to_hdf5"),
)


def install(layer_class: type, writers: tuple[tuple[str, str], ...]) -> None:
    """Makes `writers` refuse models holding handle-less `layer_class`.

    Idempotent. A writer this Keras does not have is skipped (logged at
    debug level): `get_config` still refuses, but only after the file was
    opened.
    """
    for module_name, name in writers:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # pragma: no cover - depends on the release
            logger.debug("no module %s to guard", module_name)
            continue
        original = getattr(module, name, None)
        if original is None:  # pragma: no cover - depends on the release
            logger.debug("no %s.%s to guard", module_name, name)
            continue
        if getattr(original, _MARK, False):
            continue
        setattr(module, name, _guarded(original, layer_class))
