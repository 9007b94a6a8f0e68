"""Reusable image SavedModels as Keras layers (SPEC K2-K4).

`imagehub.keras.KerasLayer` is the Keras 3 layer;
`imagehub.keras.tf_keras.KerasLayer` is the same layer for code still on
tf_keras (Keras 2). Keras is imported when a name is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING
from typing import Any

# `tf_keras` is a submodule (`imagehub.keras.tf_keras`), not re-exported:
# importing it needs the tf-keras package.
__all__ = ["KerasLayer"]

if TYPE_CHECKING:
    from imagehub.keras._layer import KerasLayer as KerasLayer


def __getattr__(name: str) -> Any:
    if name == "KerasLayer":
        from imagehub.keras._layer import KerasLayer

        globals()[name] = KerasLayer
        return KerasLayer
    if name == "tf_keras":
        return importlib.import_module("imagehub.keras.tf_keras")
    raise AttributeError(f"module 'imagehub.keras' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
