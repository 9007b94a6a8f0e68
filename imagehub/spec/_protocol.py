"""The Reusable SavedModel interface (SPEC R1-R7) as a typing.Protocol."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import Protocol
from typing import runtime_checkable


@runtime_checkable
class ReusableSavedModel(Protocol):
    """What `tf.saved_model.load` returns for a conforming image model.

    `__call__(images, training=False, **hparams)` maps a float32
    [batch, height, width, 3] tensor in [0, 1] to a float32
    [batch, num_features] (feature vector) or [batch, num_classes]
    (classification logits) tensor.
    """

    variables: Sequence[Any]
    trainable_variables: Sequence[Any]
    regularization_losses: Sequence[Callable[[], Any]]

    def __call__(
        self, images: Any, training: bool = False, **hparams: Any
    ) -> Any: ...
