"""Opens a model for batch inference: the loaded object and its facts.

`embed`, `classify` and the Beam pipeline need the same facts about a model
(task, input size, labels, activation); `imagehub.hub.resolve_facts` is
their one resolver. This module pairs them with the loaded object.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from imagehub import hub

logger = logging.getLogger(__name__)

ImageSize = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class OpenedModel:
    """A loaded reusable image model and what batch inference needs of it.

    Attributes:
        obj: The object `tf.saved_model.load` returned.
        facts: Its `imagehub.hub.ModelFacts`, with a known `image_size`.
    """

    obj: Any
    facts: hub.ModelFacts

    @property
    def handle(self) -> str | None:
        return self.facts.handle

    @property
    def image_size(self) -> ImageSize:
        return self.facts.require_size()

    @property
    def is_classifier(self) -> bool:
        """True when the card says so; models without a card are unknown."""
        return self.facts.is_classifier

    @functools.cached_property
    def num_outputs(self) -> int:
        """num_features or num_classes: from the facts, else by a probe."""
        if self.facts.num_outputs is not None:
            return self.facts.num_outputs
        probe = np.zeros((1, *self.image_size, 3), np.float32)
        return int(self(probe).shape[-1])

    def __call__(self, images: Any) -> np.ndarray:
        """Runs `__call__` (inference mode) on a float32 NHWC batch (a
        NumPy array or a tensor, which is passed on without a copy)."""
        import tensorflow as tf

        out = self.obj(tf.convert_to_tensor(images, tf.float32))
        if isinstance(out, dict):
            key = self.facts.output_key
            if key not in out:
                if len(out) != 1:
                    raise ValueError(
                        f"The model returned outputs {sorted(out)}; a "
                        "reusable image model returns one tensor (F1, C1)"
                    )
                key = next(iter(out))
            out = out[key]
        return np.asarray(out, np.float32)


def open_model(
    model: Any,
    image_size: Any = None,
    *,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
) -> OpenedModel:
    """Loads `model` (a handle or a loaded object) for batch inference.

    Args:
        model: A handle `imagehub.load` accepts, or an object it returned.
        image_size: (height, width) to resize images to; default: as
            `imagehub.hub.resolve_facts` finds it (card, traces, handle).
        labels: Class names or a labels file, instead of the card's.

    Returns:
        The opened model.

    Raises:
        ValueError: No input size is known and `image_size` is not given.
    """
    obj = None
    if isinstance(model, (str, os.PathLike)):
        obj = hub.load(hub.resolve(model))
    facts = hub.resolve_facts(
        model, obj=obj, image_size=image_size, labels=labels
    )
    facts.require_size()
    return OpenedModel(obj=obj if obj is not None else model, facts=facts)
