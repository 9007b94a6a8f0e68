"""The TensorFlow engine, and the SavedModel as the other engines see it.

`SourceModel` is the loaded SavedModel at a fixed input size: the
reference every other engine is compared with, and the function they are
converted from (`serving_default` when it serves that size, else
`__call__` in inference mode traced at it).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from typing import Any

import numpy as np

from imagehub.engines._base import CompiledInfo
from imagehub.engines._base import CompiledModel
from imagehub.engines._base import ImageSize

SERVING_KEY = "serving_default"


def tensorflow_version() -> str:
    for name in ("tensorflow-cpu", "tensorflow"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    import tensorflow as tf

    return str(tf.__version__)


def call_saved_model(obj: Any, images: Any) -> np.ndarray:
    """`obj(images)` (inference mode) as float32 NumPy; one output only."""
    import tensorflow as tf

    out = obj(tf.convert_to_tensor(images, tf.float32))
    if isinstance(out, dict):
        if len(out) != 1:
            raise ValueError(
                f"The model returned outputs {sorted(out)}; a reusable "
                "image model returns one tensor (F1, C1)"
            )
        out = next(iter(out.values()))
    return np.asarray(out, np.float32)


@dataclasses.dataclass
class SourceModel:
    """A loaded SavedModel and the input size it is compiled for.

    Attributes:
        model_dir: The SavedModel directory.
        obj: What `tf.saved_model.load` returned for it.
        image_size: (height, width).
    """

    model_dir: str
    obj: Any
    image_size: ImageSize

    def serving_signature(self) -> Any | None:
        """`serving_default` when it takes (None, H, W, 3) float images
        at this size and has one output, else None."""
        signatures = getattr(self.obj, "signatures", None) or {}
        fn = signatures.get(SERVING_KEY)
        if fn is None:
            return None
        inputs = list(fn.structured_input_signature[1].values())
        if len(inputs) != 1 or len(fn.structured_outputs) != 1:
            return None
        shape = inputs[0].shape
        if shape.rank != 4 or shape[0] is not None:
            return None
        if (shape[1], shape[2], shape[3]) != (*self.image_size, 3):
            return None
        return fn

    def function(self) -> Any:
        """A concrete function (None, H, W, 3) -> {"output": ...}."""
        import tensorflow as tf

        signature = self.serving_signature()
        if signature is not None:
            return signature
        obj = self.obj

        def serve(images: Any) -> dict[str, Any]:
            out = obj(images)
            if isinstance(out, dict):
                out = next(iter(out.values()))
            return {"output": out}

        spec = tf.TensorSpec([None, *self.image_size, 3], tf.float32, "images")
        return tf.function(serve, autograph=False).get_concrete_function(spec)

    def __call__(self, images: Any) -> np.ndarray:
        return call_saved_model(self.obj, images)


@dataclasses.dataclass(frozen=True)
class Conversion:
    """What an engine's converter is given.

    Attributes:
        source: The loaded SavedModel at its input size.
        out_dir: The (staging) folder the artifact is written into.
        precision: "float32" or "int8".
        calibration: int8: float32 images to calibrate on.
    """

    source: SourceModel
    out_dir: str
    precision: str
    calibration: np.ndarray | None = None


class TensorFlowModel(CompiledModel):
    """The SavedModel itself, run by TensorFlow (today's path)."""

    engine = "tensorflow"

    def __init__(self, source: SourceModel, info: CompiledInfo) -> None:
        super().__init__(info, path=None, from_cache=False)
        self.source = source

    def __call__(self, images: Any) -> np.ndarray:
        # Takes tensors as they are: no NumPy copy of a tf.data batch.
        return self.source(images)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.source(batch)
