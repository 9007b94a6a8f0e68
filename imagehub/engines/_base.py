"""The interface: a compiled image model for batch inference.

A `CompiledModel` runs one reusable SavedModel's inference (`__call__`
with `training=False`, i.e. what `serving_default` serves) on float32
NHWC batches of a fixed height and width and any batch size, and returns
the float32 (batch, num_outputs) output as a NumPy array. Three engines
implement it: TensorFlow (the SavedModel itself), LiteRT (a `.tflite`
flatbuffer run with XNNPACK) and OpenVINO (IR read from the SavedModel).
What a compilation produced and how it was verified is a `CompiledInfo`,
stored beside the artifact in the cache.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import importlib.metadata
import json
import os
import threading
from typing import Any

import numpy as np

from imagehub.engines._errors import EngineUnavailableError

ENGINES = ("tensorflow", "litert", "openvino")
ENGINE_CHOICES = ("auto", *ENGINES)
PRECISIONS = ("float32", "int8")
# Largest relative difference (max |engine - tensorflow| over the largest
# |tensorflow| output) a float32 engine may show on the probe images.
PARITY_TOLERANCE = 1e-4
# int8 must keep this much agreement with the float model (top-1 agreement
# for classifiers, mean cosine similarity for feature vectors).
MIN_AGREEMENT = 0.99

ImageSize = tuple[int, int]


def cpu_threads() -> int:
    """CPU cores this process may run on (its affinity, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The package an engine other than TensorFlow runs on.

    Attributes:
        engine: The engine's name (and imagehub's extra for it).
        module: The module imported to run a compiled model.
        name: The runtime's name in messages.
        distribution: The pip distribution that provides it.
    """

    engine: str
    module: str
    name: str
    distribution: str

    @property
    def pip_line(self) -> str:
        return f"pip install 'imagehub[{self.engine}]'  ({self.distribution})"

    def version(self) -> str:
        """The installed version.

        Raises:
            EngineUnavailableError: It is not installed (names the pip
                line).
        """
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError as e:
            raise EngineUnavailableError(
                f"engine {self.engine!r} needs {self.distribution}, which is "
                f"not installed: {self.pip_line}; or use --engine tensorflow"
            ) from e

    def load(self) -> Any:
        """The imported `module`; EngineUnavailableError when missing."""
        try:
            return importlib.import_module(self.module)
        except ImportError as e:
            raise EngineUnavailableError(
                f"engine {self.engine!r} needs {self.name}: {self.pip_line}"
            ) from e


def relative_difference(output: np.ndarray, reference: np.ndarray) -> float:
    """max |output - reference| / max |reference| (float32 parity)."""
    output = np.asarray(output, np.float64)
    reference = np.asarray(reference, np.float64)
    if output.shape != reference.shape:
        return float("inf")
    scale = max(float(np.abs(reference).max(initial=0.0)), 1e-12)
    return float(np.abs(output - reference).max(initial=0.0)) / scale


def check_engine(engine: str, choices: tuple[str, ...] = ENGINES) -> None:
    if engine not in choices:
        raise ValueError(
            f"Unknown engine {engine!r}; expected one of {choices}"
        )


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(
            f"Unknown precision {precision!r}; expected one of {PRECISIONS}"
        )


@dataclasses.dataclass(frozen=True)
class CompiledInfo:
    """What a compilation made and how it was checked against TensorFlow.

    Attributes:
        engine: One of `ENGINES`.
        version: The engine runtime's version.
        precision: "float32" or "int8".
        image_size: (height, width) the model was compiled for.
        num_outputs: Features or classes per image.
        content_hash: sha256 of the SavedModel's files.
        probes: Images the parity (or agreement) check ran on.
        probe_source: "job images" or "generated images".
        max_relative_difference: float32 parity measured at compile time.
        agreement: int8 only: top-1 agreement (classifier) or mean cosine
            similarity (feature vector) with the float model.
        agreement_metric: What `agreement` measures.
        compile_seconds: Conversion time.
        calibration_digest: int8 only: sha256 of the calibration images
            (their float32 pixels).
        calibrated_on: int8 only: what it was calibrated on, in words.
    """

    engine: str
    version: str
    precision: str
    image_size: ImageSize
    num_outputs: int
    content_hash: str
    probes: int = 0
    probe_source: str = ""
    max_relative_difference: float | None = None
    agreement: float | None = None
    agreement_metric: str | None = None
    compile_seconds: float = 0.0
    calibration_digest: str = ""
    calibrated_on: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> CompiledInfo:
        data = json.loads(text)
        data["image_size"] = tuple(data["image_size"])
        return cls(**data)


class CompiledModel(abc.ABC):
    """A compiled image model for batch inference.

    Attributes:
        info: What was compiled and how it was verified.
        path: The cache entry holding the artifact (None for TensorFlow).
        from_cache: True when the artifact was read from the cache rather
            than compiled by this process.
    """

    engine: str = ""

    def __init__(
        self, info: CompiledInfo, path: str | None, from_cache: bool
    ) -> None:
        self.info = info
        self.path = path
        self.from_cache = from_cache

    @property
    def image_size(self) -> ImageSize:
        return self.info.image_size

    @property
    def num_outputs(self) -> int:
        return self.info.num_outputs

    def __call__(self, images: Any) -> np.ndarray:
        """Runs inference on a float32 (batch, height, width, 3) batch.

        Args:
            images: A NumPy array or tensor of [0, 1] RGB images.

        Returns:
            float32 (batch, num_outputs).
        """
        batch = np.asarray(images, np.float32)
        height, width = self.info.image_size
        if batch.ndim != 4 or batch.shape[1:] != (height, width, 3):
            raise ValueError(
                f"{self.engine} model compiled for (batch, {height}, {width}, "
                f"3) images got shape {batch.shape}"
            )
        if batch.shape[0] == 0:
            return np.zeros((0, self.info.num_outputs), np.float32)
        return self._run(np.ascontiguousarray(batch))

    @abc.abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """The engine's inference on a checked, contiguous batch."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.info.engine} {self.info.version}, "
            f"{self.info.precision}, {self.info.image_size})"
        )


class RuntimeModel(CompiledModel):
    """A compiled artifact of the cache, run by its engine's `runtime`.

    Subclasses name the `runtime` and open the artifact in `_open`; their
    `_run` holds `_lock`, as one runtime instance runs one batch at a
    time.

    Args:
        info: What was compiled and how it was verified.
        path: The cache entry (or staging folder) holding the artifact.
        from_cache: Whether the artifact was read from the cache.
        threads: Threads the runtime may use (default: the cores).

    Raises:
        EngineUnavailableError: The runtime is not installed.
    """

    runtime: Runtime

    def __init__(
        self,
        info: CompiledInfo,
        path: str,
        from_cache: bool,
        threads: int | None = None,
    ) -> None:
        super().__init__(info, path, from_cache)
        module = self.runtime.load()
        self.threads = threads or cpu_threads()
        self._lock = threading.Lock()
        self._open(module, path)

    @abc.abstractmethod
    def _open(self, module: Any, path: str) -> None:
        """Loads the artifact in `path` with the runtime's `module`."""
