"""TFLite conversion of the retrained classifier, and its agreement check.

The converter reads the exported SavedModel's float signature
(`serving_default`: [0, 1] images in, logits out). Quantization is
post-training: ``dynamic`` (int8 weights), ``float16`` (float16 weights) or
``int8`` (integer arithmetic, calibrated on training images; float input and
output, so callers feed the same [0, 1] images). The converted model then
classifies the validation images beside the SavedModel; the share of equal
top-1 classes is the agreement rate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

import numpy as np

from imagehub.retrain._config import FLOAT_AGREEMENT_MIN
from imagehub.retrain._config import FLOAT_QUANTIZATIONS
from imagehub.retrain._config import TFLITE_QUANTIZATIONS
from imagehub.retrain._errors import TFLiteMismatchError
from imagehub.spec import SIGNATURE_FLOAT

logger = logging.getLogger(__name__)


def convert(
    saved_model_dir: str,
    quantize: str = "none",
    representative_images: Callable[[], Iterable[np.ndarray]] | None = None,
) -> bytes:
    """Converts a classifier SavedModel's float signature to TFLite.

    Args:
        saved_model_dir: The exported classifier.
        quantize: One of ``TFLITE_QUANTIZATIONS``.
        representative_images: For ``int8``: returns an iterable of float32
            [1, H, W, 3] arrays of training images, for calibration.

    Returns:
        The flatbuffer bytes.

    Raises:
        ValueError: `quantize` is unknown, or ``int8`` lacks images.
    """
    import tensorflow as tf

    if quantize not in TFLITE_QUANTIZATIONS:
        raise ValueError(
            f"quantize={quantize!r}; expected one of {TFLITE_QUANTIZATIONS}"
        )
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[SIGNATURE_FLOAT]
    )
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if representative_images is None:
            raise ValueError(
                "quantize='int8' needs representative_images (training "
                "images for calibration)"
            )

        def representative():
            for image in representative_images():
                yield [np.asarray(image, np.float32)]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        ]
    return converter.convert()


class TFLiteClassifier:
    """Runs a .tflite classifier on float32 image batches (numpy)."""

    def __init__(self, model_content: bytes):
        import tensorflow as tf

        self._interpreter = tf.lite.Interpreter(model_content=model_content)
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = None

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if self._batch != images.shape:
            self._interpreter.resize_tensor_input(
                self._input["index"], images.shape
            )
            self._interpreter.allocate_tensors()
            self._batch = images.shape
        self._interpreter.set_tensor(self._input["index"], images)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output["index"]))


def agreement(
    reference: Callable[[np.ndarray], Any],
    lite: Callable[[np.ndarray], np.ndarray],
    batches: Iterable[np.ndarray],
) -> tuple[float, int]:
    """The share of images whose top-1 class is the same in both models.

    Returns:
        ``(rate, count)``; rate is 1.0 when there are no images.
    """
    same = count = 0
    for images in batches:
        images = np.asarray(images, np.float32)
        a = np.argmax(np.asarray(reference(images)), axis=-1)
        b = np.argmax(lite(images), axis=-1)
        same += int(np.sum(a == b))
        count += len(a)
    return (same / count if count else 1.0), count


def check_agreement(rate: float, count: int, quantize: str) -> None:
    """Raises for a float model below `FLOAT_AGREEMENT_MIN`; logs else.

    Raises:
        TFLiteMismatchError: float model agreement below the minimum.
    """
    message = (
        f"TFLite ({quantize}) top-1 agrees with the SavedModel on "
        f"{rate:.1%} of {count} validation images"
    )
    if quantize in FLOAT_QUANTIZATIONS and rate < FLOAT_AGREEMENT_MIN:
        raise TFLiteMismatchError(
            f"{message}; a float model must agree on at least "
            f"{FLOAT_AGREEMENT_MIN:.0%}. Nothing was exported. This points "
            "to an op the TFLite converter handles differently; please "
            "report it with the module you used."
        )
    if rate < FLOAT_AGREEMENT_MIN:
        logger.warning("%s (quantization costs accuracy)", message)
    else:
        logger.info("%s", message)
