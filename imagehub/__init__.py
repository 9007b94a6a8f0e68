"""imagehub: reusable image SavedModels for TensorFlow 2 and Keras 3.

Public names are imported lazily, so `import imagehub` and the CLI's
`--help` stay fast; TensorFlow is imported by the functions that need it.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING
from typing import Any

from imagehub._version import __version__ as __version__

PIP_HINT = "pip install 'imagehub[cpu]'  (or 'imagehub[gpu]' for CUDA)"


def _tensorflow_installed() -> bool:
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        # ValueError: sys.modules["tensorflow"] is None (import blocked).
        return False


if not _tensorflow_installed():
    raise ImportError(
        "imagehub needs TensorFlow, which is not installed in this Python "
        f"environment. Install it with: {PIP_HINT}"
    )

# name -> module that defines it. Resolved on first attribute access.
_LAZY = {
    "export_feature_vector": "imagehub.export",
    "export_classifier": "imagehub.export",
    "check": "imagehub.check",
    "scan": "imagehub.scan",
    "load": "imagehub.hub",
    "resolve": "imagehub.hub",
    "KerasLayer": "imagehub.keras",
    "embed": "imagehub.embed",
    "classify": "imagehub.embed",
    "compare": "imagehub.compare",
}
_SUBPACKAGES = (
    "spec",
    "outputs",
    "export",
    "check",
    "hub",
    "keras",
    "data",
    "scan",
    "engines",
    "retrain",
    "embed",
    "compare",
    "testing",
)

__all__ = sorted([*_LAZY, *_SUBPACKAGES, "__version__"])

if TYPE_CHECKING:
    from imagehub.check import check as check
    from imagehub.compare import compare as compare
    from imagehub.embed import classify as classify
    from imagehub.embed import embed as embed
    from imagehub.export import export_classifier as export_classifier
    from imagehub.export import export_feature_vector as export_feature_vector
    from imagehub.hub import load as load
    from imagehub.hub import resolve as resolve
    from imagehub.keras import KerasLayer as KerasLayer
    from imagehub.scan import scan as scan


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        if module.__name__ == f"{__name__}.{name}":
            # A subpackage named like its function (`check`, `embed`): the
            # import just set it as our attribute, and it is callable (see
            # imagehub/_callable.py); caching the function would hide it.
            return module
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"imagehub.{name}")
    raise AttributeError(f"module 'imagehub' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
