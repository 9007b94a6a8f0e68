"""Choices and defaults of image input that every package shares.

They live here, TensorFlow-free, so the CLI can offer them as flag choices
without importing the packages that use them.
"""

from __future__ import annotations

# How an image is fitted to the model's input size: "stretch" (resize,
# ignoring the aspect ratio), "crop" (central crop to the aspect ratio,
# then resize) or "pad" (letterbox).
RESIZE_MODES: tuple[str, ...] = ("stretch", "crop", "pad")
DEFAULT_RESIZE = "stretch"

# The input size used when neither the caller, the model card, the traces
# nor the handle say one: the size most image models are trained at.
DEFAULT_IMAGE_SIZE: tuple[int, int] = (224, 224)

# The value range of a reusable image model's input (SPEC I2).
INPUT_RANGE: tuple[float, float] = (0.0, 1.0)
