"""Loading a weights file into a Keras model, naming what does not fit."""

from __future__ import annotations

import logging
import os
from typing import Any

_log = logging.getLogger(__name__)


def _decode(name: Any) -> str:
    return name.decode("utf-8") if isinstance(name, bytes) else str(name)


def _legacy_h5_layers(path: str) -> list[tuple[str, list[tuple[int, ...]]]]:
    """(layer name, weight shapes) of a Keras 2 style .h5, layers with
    weights only, in file order. Empty when the file has another layout."""
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            return []
        out = []
        for raw in group.attrs["layer_names"]:
            name = _decode(raw)
            layer = group[name]
            weight_names = [_decode(w) for w in layer.attrs["weight_names"]]
            if weight_names:
                shapes = [tuple(layer[w].shape) for w in weight_names]
                out.append((name, shapes))
        return out


def _model_layers(model: Any) -> list[tuple[str, list[tuple[int, ...]]]]:
    return [
        (layer.name, [tuple(w.shape) for w in layer.weights])
        for layer in model.layers
        if layer.weights
    ]


def weights_mismatch(model: Any, path: str) -> str | None:
    """Describes the first layer of `model` that the legacy .h5 file at
    `path` does not fit, or returns None when every layer fits (or the
    file is not a legacy .h5)."""
    try:
        file_layers = _legacy_h5_layers(path)
    except (OSError, KeyError):
        return None
    if not file_layers:
        return None
    model_layers = _model_layers(model)
    for i, (name, shapes) in enumerate(model_layers):
        if i >= len(file_layers):
            return (
                f"layer {name!r} (#{i}, weights {shapes}) has no "
                f"counterpart: the file holds weights for only "
                f"{len(file_layers)} layers, the model has "
                f"{len(model_layers)}"
            )
        file_name, file_shapes = file_layers[i]
        if shapes != file_shapes:
            return (
                f"layer {name!r} (#{i}) has weights of shapes {shapes}, "
                f"but the file's layer {file_name!r} has {file_shapes}"
            )
    if len(file_layers) > len(model_layers):
        extra = file_layers[len(model_layers)][0]
        return (
            f"the file has {len(file_layers)} layers with weights, the "
            f"model {len(model_layers)}; the first extra one is {extra!r}"
        )
    return None


def load_weights_checked(model: Any, path: str | os.PathLike[str]) -> None:
    """Loads `path` into `model`; a file that does not fit raises a
    ValueError naming the first layer that does not.

    Args:
        model: A built Keras model.
        path: A weights file (``.h5`` or ``.weights.h5``).

    Raises:
        ValueError: The file does not fit the model.
    """
    path = os.fspath(path)
    problem = weights_mismatch(model, path)
    if problem is not None:
        raise ValueError(
            f"The weights file {path} does not fit {model.name}: {problem}. "
            "Check the architecture and its --alpha against the file."
        )
    try:
        model.load_weights(path)
    except (ValueError, OSError, KeyError) as e:
        raise ValueError(
            f"The weights file {path} does not fit {model.name}: {e}"
        ) from e
    _log.info("Loaded weights from %s", path)
