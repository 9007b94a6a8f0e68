"""Parsing an image size given as an int, a string or a pair."""

from __future__ import annotations

import numbers
from typing import Any


def parse_image_size(
    value: Any, name: str = "image_size"
) -> tuple[int, int] | None:
    """Parses an image size into (height, width).

    Args:
        value: None, a positive int (square; NumPy's too), a string ``"224"``,
            ``"224,192"`` or ``"224x192"``, or a (height, width) pair.
        name: The argument's name, used in the error message.

    Returns:
        (height, width), or None when `value` is None.

    Raises:
        ValueError: `value` is not one of the forms above or not positive.
    """
    if value is None:
        return None
    try:
        if isinstance(value, str):
            parts = [int(p) for p in value.replace("x", ",").split(",")]
        elif isinstance(value, numbers.Integral):
            parts = [int(value)]
        else:
            parts = [int(p) for p in value]
        if len(parts) == 1:
            parts = parts * 2
        height, width = parts
    except (TypeError, ValueError):
        height = width = 0
    if height < 1 or width < 1:
        raise ValueError(
            f"{name} must be H,W with positive integers (e.g. 224,224 or "
            f"224x224), one positive integer, or a (height, width) pair; "
            f"got {name}={value!r}"
        )
    return int(height), int(width)
