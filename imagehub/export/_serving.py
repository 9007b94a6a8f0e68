"""The serving signatures (SPEC M2): float images and encoded image bytes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imagehub.spec import INPUT_IMAGE_BYTES
from imagehub.spec import INPUT_IMAGES


def decode_and_resize(image_bytes: Any, size: tuple[int, int]) -> Any:
    """Decodes a batch of encoded images to float32 [0, 1] RGB of `size`.

    JPEG, PNG, GIF (first frame) and BMP; greyscale and RGBA become RGB.
    Each image is decoded with `tf.io.decode_image` and resized with
    `tf.image.resize` (bilinear), exactly as a caller of `__call__` would.

    Args:
        image_bytes: A string tensor of shape [batch].
        size: (height, width) of the output.

    Returns:
        A float32 tensor of shape [batch, height, width, 3].
    """
    import tensorflow as tf

    height, width = int(size[0]), int(size[1])

    def one(data: Any) -> Any:
        image = tf.io.decode_image(
            data, channels=3, dtype=tf.float32, expand_animations=False
        )
        image.set_shape([None, None, 3])
        return tf.image.resize(image, (height, width))

    return tf.map_fn(
        one,
        image_bytes,
        fn_output_signature=tf.TensorSpec([height, width, 3], tf.float32),
    )


def serving_functions(
    forward: Callable[[Any], Any],
    size: tuple[int, int],
    output_key: str,
) -> tuple[Any, Any]:
    """Returns the concrete functions of the two serving signatures.

    Args:
        forward: Maps float32 [0, 1] images to outputs, inference mode.
        size: The default (height, width); both signatures use it.
        output_key: ``"feature_vector"`` or ``"logits"``.

    Returns:
        (float signature, bytes signature) as concrete functions.
    """
    import tensorflow as tf

    height, width = int(size[0]), int(size[1])

    def serve_images(images: Any) -> dict[str, Any]:
        return {output_key: forward(images)}

    def serve_bytes(image_bytes: Any) -> dict[str, Any]:
        return {output_key: forward(decode_and_resize(image_bytes, size))}

    float_fn = tf.function(
        serve_images,
        input_signature=[
            tf.TensorSpec(
                [None, height, width, 3], tf.float32, name=INPUT_IMAGES
            )
        ],
        autograph=False,
    )
    bytes_fn = tf.function(
        serve_bytes,
        input_signature=[
            tf.TensorSpec([None], tf.string, name=INPUT_IMAGE_BYTES)
        ],
        autograph=False,
    )
    return float_fn.get_concrete_function(), bytes_fn.get_concrete_function()
