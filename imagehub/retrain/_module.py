"""What retraining needs to know about the feature-vector module: its
input size (model card, else traced signature, else --image_size)."""

from __future__ import annotations

import logging
from typing import Any

from imagehub.retrain._errors import ImageSizeError
from imagehub.spec import SIGNATURE_FLOAT
from imagehub.spec import ModelCard

logger = logging.getLogger(__name__)


def traced_image_size(obj: Any) -> tuple[int | None, int | None] | None:
    """The (height, width) the module's traces accept, None per unknown
    dimension, or None when no trace tells.

    Looks at the concrete functions of ``obj.__call__`` (as the old tool
    did), then at the `serving_default` signature.
    """
    sizes = set()
    call = obj.__call__ if callable(obj) else None
    for fn in getattr(call, "concrete_functions", None) or ():
        try:
            spec = fn.structured_input_signature[0][0]
            shape = tuple(spec.shape)
        except (AttributeError, IndexError, TypeError):
            continue
        if len(shape) == 4:
            sizes.add((shape[1], shape[2]))
    if not sizes:
        signatures = getattr(obj, "signatures", None) or {}
        if SIGNATURE_FLOAT in signatures:
            inputs = signatures[SIGNATURE_FLOAT].structured_input_signature[1]
            for spec in inputs.values():
                if len(spec.shape) == 4:
                    sizes.add((spec.shape[1], spec.shape[2]))
    if not sizes:
        return None
    if len(sizes) == 1:
        return next(iter(sizes))
    # Traces disagree: only a dimension fixed in all of them is fixed.
    hs = {h for h, _ in sizes}
    ws = {w for _, w in sizes}
    return (
        next(iter(hs)) if len(hs) == 1 else None,
        next(iter(ws)) if len(ws) == 1 else None,
    )


def resolve_image_size(
    card: ModelCard | None,
    traced: tuple[int | None, int | None] | None,
    requested: int | None,
    module: str = "the module",
) -> tuple[int, int]:
    """Chooses the input size: the model card's, else the traced one, else
    the requested one; a requested size the module cannot take is an
    error.

    Args:
        card: The module's model card, or None.
        traced: From `traced_image_size`.
        requested: --image_size (square), or None.
        module: The handle, for messages.

    Returns:
        (height, width).

    Raises:
        ImageSizeError: `requested` does not fit, or no size is known.
    """
    want = None if requested is None else (int(requested), int(requested))
    if card is not None:
        default = tuple(card.default_size)
        if card.fixed_size:
            if want is not None and want != default:
                raise ImageSizeError(
                    f"--image_size {requested} does not fit {module}: its "
                    f"model card fixes the input size to {default[0]}x"
                    f"{default[1]}. Drop --image_size or pass "
                    f"--image_size {default[0]}"
                )
            return default  # type: ignore[return-value]
        if want is None:
            return default  # type: ignore[return-value]
        low, high = card.min_size, card.max_size
        if (low and (want[0] < low[0] or want[1] < low[1])) or (
            high and (want[0] > high[0] or want[1] > high[1])
        ):
            raise ImageSizeError(
                f"--image_size {requested} does not fit {module}: its "
                f"model card permits sizes from {low} to {high or 'any'} "
                f"(default {default[0]})"
            )
        return want
    if traced is not None and None not in traced:
        if want is not None and want != tuple(traced):
            raise ImageSizeError(
                f"--image_size {requested} does not fit {module}: its "
                f"traced signature expects {traced[0]}x{traced[1]} images. "
                f"Drop --image_size or pass --image_size {traced[0]}"
            )
        return (int(traced[0]), int(traced[1]))  # type: ignore[arg-type]
    if want is None:
        raise ImageSizeError(
            f"{module} has no model card and accepts images of any size; "
            "set --image_size (e.g. the size its documentation advertises, "
            "often 224)"
        )
    return want
