"""The LiteRT engine: a `.tflite` flatbuffer run with XNNPACK.

Converted with TensorFlow's `TFLiteConverter` from the SavedModel's
`serving_default` read from its directory (or, for a model without one at
this size, `__call__` traced at it; batch dimension kept dynamic) and run by
`ai_edge_litert.interpreter.Interpreter`, whose default op resolver
applies the XNNPACK delegate, on as many threads as the process has
cores. The interpreter is resized when the batch size changes (the last
batch of a job), and serialized by a lock: one interpreter runs one
batch at a time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from imagehub.engines._base import Runtime
from imagehub.engines._base import RuntimeModel
from imagehub.engines._tensorflow import SERVING_KEY
from imagehub.engines._tensorflow import Conversion

logger = logging.getLogger(__name__)

ARTIFACT = "model.tflite"
RUNTIME = Runtime(
    "litert", "ai_edge_litert.interpreter", "LiteRT", "ai-edge-litert"
)


def convert(job: Conversion) -> None:
    """Writes `model.tflite` for `job.source` into `job.out_dir`."""
    import tensorflow as tf

    source, calibration = job.source, job.calibration
    if source.serving_signature() is not None:
        # Straight from the directory: from a concrete function the
        # converter saves and reloads a SavedModel first (6.9 s against
        # 5.2 s for MobileNetV3Small, 18 s against 12 s for EfficientNetB0).
        converter = tf.lite.TFLiteConverter.from_saved_model(
            source.model_dir, signature_keys=[SERVING_KEY]
        )
    else:
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [source.function()], source.obj
        )
    if job.precision == "int8":
        if calibration is None or len(calibration) == 0:
            raise ValueError("int8 needs calibration images")

        def representative() -> Any:
            for image in calibration:
                yield [image[np.newaxis].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        ]
        # Float32 in and out: the caller's batches stay as they are.
    flatbuffer = converter.convert()
    with open(os.path.join(job.out_dir, ARTIFACT), "wb") as f:
        f.write(flatbuffer)


@contextlib.contextmanager
def _native_notes_to_debug() -> Iterator[None]:
    """LiteRT's C++ runtime writes ``INFO: Created TensorFlow Lite
    XNNPACK delegate for CPU.`` to descriptor 2, with no switch to turn
    it off. For the block (one allocation, milliseconds), descriptor 2
    goes to a temporary file; then its ``INFO:`` lines go to this
    logger's debug level and everything else (a native warning, or what
    another thread wrote meanwhile) to descriptor 2 as it was written."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                captured.seek(0)
                kept = []
                for line in captured.read().splitlines(keepends=True):
                    if line.startswith(b"INFO: "):
                        text = line[6:].decode("utf-8", "replace").rstrip()
                        logger.debug("LiteRT: %s", text)
                    else:
                        kept.append(line)
                if kept:
                    os.write(2, b"".join(kept))
    finally:
        os.close(saved)


class LiteRTModel(RuntimeModel):
    """A `.tflite` model run by the LiteRT interpreter with XNNPACK."""

    engine = "litert"
    runtime = RUNTIME

    def _open(self, module: Any, path: str) -> None:
        self._interpreter = module.Interpreter(
            model_path=os.path.join(path, ARTIFACT),
            num_threads=self.threads,
        )
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        with _native_notes_to_debug():
            # The first allocation applies XNNPACK, which announces itself.
            self._interpreter.allocate_tensors()
        self._batch = int(self._interpreter.get_input_details()[0]["shape"][0])

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            interpreter = self._interpreter
            if batch.shape[0] != self._batch:
                interpreter.resize_tensor_input(self._input, batch.shape)
                interpreter.allocate_tensors()
                self._batch = batch.shape[0]
            interpreter.set_tensor(self._input, batch)
            interpreter.invoke()
            # get_tensor copies: the buffer is reused by the next invoke.
            output: np.ndarray = interpreter.get_tensor(self._output)
            return output
