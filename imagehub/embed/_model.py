"""Opens a model for batch inference: the loaded object and its card.

`embed`, `classify` and the Beam pipeline need the same facts about a model:
its task, the input size to resize images to, its labels and activation. The
model card (SPEC M1) has them; models without one (TF Hub's) are inspected.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from typing import Any

import numpy as np

from imagehub.spec import TASK_CLASSIFICATION
from imagehub.spec import ModelCard
from imagehub.spec import parse_image_size
from imagehub.spec import read_card

logger = logging.getLogger(__name__)

ImageSize = tuple[int, int]


@dataclasses.dataclass
class OpenedModel:
    """A loaded reusable image model and what batch inference needs of it.

    Attributes:
        obj: The object `tf.saved_model.load` returned.
        handle: The handle it was loaded from, or None for a loaded object.
        card: Its model card, or None.
        image_size: (height, width) the images are resized to.
    """

    obj: Any
    handle: str | None
    card: ModelCard | None
    image_size: ImageSize
    _num_outputs: int | None = dataclasses.field(default=None, repr=False)

    @property
    def num_outputs(self) -> int:
        """num_features or num_classes: from the card, else by a probe."""
        if self.card is not None:
            return self.card.num_outputs
        if self._num_outputs is None:
            probe = np.zeros((1, *self.image_size, 3), np.float32)
            self._num_outputs = int(self(probe).shape[-1])
        return self._num_outputs

    @property
    def is_classifier(self) -> bool:
        """True when the card says so; models without a card are unknown."""
        return self.card is not None and self.card.task == TASK_CLASSIFICATION

    def __call__(self, images: Any) -> np.ndarray:
        """Runs `__call__` (inference mode) on a float32 NHWC batch (a
        NumPy array or a tensor, which is passed on without a copy)."""
        import tensorflow as tf

        out = self.obj(tf.convert_to_tensor(images, tf.float32))
        if isinstance(out, dict):
            key = self.card.output_key if self.card else None
            if key not in out:
                if len(out) != 1:
                    raise ValueError(
                        f"The model returned outputs {sorted(out)}; a "
                        "reusable image model returns one tensor (F1, C1)"
                    )
                key = next(iter(out))
            out = out[key]
        return np.asarray(out, np.float32)


def _card_of_loaded(obj: Any) -> ModelCard | None:
    # The exporter tracks the card as an Asset, so a loaded object knows
    # where its copy is.
    asset = getattr(obj, "model_card", None)
    path = getattr(asset, "asset_path", None)
    if path is None:
        return None
    path = path.numpy().decode() if hasattr(path, "numpy") else str(path)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return ModelCard.from_json(f.read())


def _size_from_signatures(obj: Any) -> ImageSize | None:
    """Finds a fixed input height and width in the model's traces."""
    shapes = []
    signatures = getattr(obj, "signatures", None) or {}
    for fn in signatures.values():
        for spec in fn.structured_input_signature[1].values():
            shapes.append(spec.shape)
    # A restored `__call__` is a function with its traces attached.
    call = obj.__call__ if callable(obj) else None
    for fn in getattr(call, "concrete_functions", ()) or ():
        args = fn.structured_input_signature[0]
        if args:
            shapes.append(getattr(args[0], "shape", None))
    for shape in shapes:
        if shape is not None and shape.rank == 4:
            height, width = shape[1], shape[2]
            if height and width:
                return int(height), int(width)
    return None


# TF Hub names image models with their input size before the task:
# .../mobilenet_v1_025_128/classification/4, or vendored as
# imagenet_mobilenet_v1_025_128_classification_4.
_HANDLE_SIZE = re.compile(r"_(\d{2,4})[/_](?:classification|feature_vector)")


def _size_from_handle(handle: str | None) -> ImageSize | None:
    match = _HANDLE_SIZE.search(handle or "")
    if match is None:
        return None
    size = int(match.group(1))
    return size, size


def open_model(model: Any, image_size: Any = None) -> OpenedModel:
    """Loads `model` (a handle or a loaded object) for batch inference.

    Args:
        model: A handle `imagehub.load` accepts, or an object it returned.
        image_size: (height, width) to resize images to; default: the card's
            default size, else the fixed size of the model's traces.

    Returns:
        The opened model.

    Raises:
        ValueError: No input size is known and `image_size` is not given.
    """
    size = parse_image_size(image_size)
    handle = None
    if isinstance(model, (str, os.PathLike)):
        from imagehub import hub

        handle = os.fspath(model)
        model_dir = hub.resolve(handle)
        card = read_card(model_dir)
        obj = hub.load(model_dir)
    else:
        obj = model
        card = _card_of_loaded(obj)
    if size is None and card is not None:
        size = (card.default_size[0], card.default_size[1])
    if size is None:
        size = _size_from_signatures(obj)
    if size is None:
        size = _size_from_handle(handle)
        if size is not None:
            logger.info(
                "Model %s has no card and accepts any size; using %dx%d "
                "from its name (set image_size to change it)",
                handle,
                *size,
            )
    if size is None:
        raise ValueError(
            f"Cannot tell the input size of model {handle or obj!r}: it has "
            "no model card and no fixed size in its traces; pass image_size "
            "(--image_size H,W)"
        )
    logger.debug("Model %s: card=%s, image_size=%s", handle, card, size)
    return OpenedModel(obj=obj, handle=handle, card=card, image_size=size)
