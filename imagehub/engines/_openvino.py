"""The OpenVINO engine: IR read from the SavedModel, run on the CPU plugin.

Converted by OpenVINO's TensorFlow frontend straight from the SavedModel
directory's `serving_default` (a model without one at this size, such as
TF Hub's, is first saved with one), weights kept in float32
(`compress_to_fp16=False`), and compiled with f32 inference precision:
the CPU plugin's default on CPUs with bfloat16 support is bf16, whose
outputs differ from TensorFlow's by about 1e-1 relative, far beyond
parity. The frontend is used rather than `openvino.convert_model`, which
sends usage telemetry over the network.

The CPU plugin's compiled form is kept beside the IR (OpenVINO's model
cache, `BLOB_DIR`), so a run reading a cached model does not compile the
IR again. A batch is split across the plugin's throughput streams and run as
asynchronous requests; a batch smaller than the number of streams runs as
one request.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

import numpy as np

from imagehub.engines._base import Runtime
from imagehub.engines._base import RuntimeModel
from imagehub.engines._tensorflow import SERVING_KEY
from imagehub.engines._tensorflow import Conversion

logger = logging.getLogger(__name__)

ARTIFACT = "model.xml"
# The CPU plugin's compiled model (OpenVINO's model cache) in an entry.
BLOB_DIR = "blob"
RUNTIME = Runtime("openvino", "openvino", "OpenVINO", "openvino")
DEVICE = "CPU"


def convert(job: Conversion) -> None:
    """Writes `model.xml` and `model.bin` for `job.source` into
    `job.out_dir`."""
    source, precision, out_dir = job.source, job.precision, job.out_dir
    if precision != "float32":
        raise ValueError(
            f"engine 'openvino' supports precision float32 only, got "
            f"{precision!r}; int8 is available with --engine litert"
        )
    import openvino as ov
    from openvino.frontend import FrontEndManager

    saved_model = source.model_dir
    resaved = None
    if source.serving_signature() is None:
        import tensorflow as tf

        resaved = tempfile.mkdtemp(prefix=".resaved-", dir=out_dir)
        tf.saved_model.save(
            source.obj, resaved, signatures={SERVING_KEY: source.function()}
        )
        saved_model = resaved
    try:
        frontend = FrontEndManager().load_by_framework("tf")
        model = frontend.convert(frontend.load(saved_model))
    finally:
        if resaved is not None:
            shutil.rmtree(resaved, ignore_errors=True)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"OpenVINO read {len(model.inputs)} inputs and "
            f"{len(model.outputs)} outputs from {source.model_dir}; "
            "expected one image input and one output"
        )
    ov.save_model(
        model, os.path.join(out_dir, ARTIFACT), compress_to_fp16=False
    )


class OpenVINOModel(RuntimeModel):
    """An OpenVINO IR compiled for the CPU, fp32 inference precision."""

    engine = "openvino"
    runtime = RUNTIME

    def _open(self, module: Any, path: str) -> None:
        config = {
            "PERFORMANCE_HINT": "THROUGHPUT",
            "INFERENCE_PRECISION_HINT": "f32",
            "INFERENCE_NUM_THREADS": self.threads,
        }
        artifact = os.path.join(path, ARTIFACT)
        try:
            # The CPU plugin's compiled blob, kept in the entry: compiling
            # the IR takes 0.6 s for MobileNetV3Small on every run, reading
            # the blob 0.1 s (OpenVINO compiles anew if it is unusable).
            core = module.Core()
            core.set_property({"CACHE_DIR": os.path.join(path, BLOB_DIR)})
            self._compiled = core.compile_model(artifact, DEVICE, config)
        except RuntimeError as e:  # e.g. a read-only cache
            logger.debug("OpenVINO without its blob cache: %s", e)
            self._compiled = module.Core().compile_model(
                artifact, DEVICE, config
            )
        self._streams = max(
            1,
            int(
                self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
            ),
        )
        self._requests = [
            self._compiled.create_infer_request() for _ in range(self._streams)
        ]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            parts = min(self._streams, batch.shape[0])
            chunks = np.array_split(batch, parts)
            requests = self._requests[:parts]
            for request, chunk in zip(requests, chunks, strict=True):
                request.start_async({0: chunk}, share_inputs=True)
            outputs = []
            for request in requests:
                request.wait()
                outputs.append(request.get_output_tensor(0).data.copy())
            return np.concatenate(outputs) if parts > 1 else outputs[0]
