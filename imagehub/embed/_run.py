"""What the local and the Beam runner of `embed` share: the argument and
result types, and the run's configuration as saved beside the output."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np

from imagehub._version import __version__
from imagehub.hub import ModelFacts
from imagehub.spec import RESIZE_MODES

BEAM_PIP_LINE = "pip install 'imagehub[beam]'"
Progress = Callable[[int, int], None]
Inputs = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
RUNNERS = ("local", "beam")


@dataclasses.dataclass
class EmbedResult:
    """What `embed` returns without an output file.

    Attributes:
        paths: The embedded images, in input order.
        vectors: float32 (len(paths), num_outputs): the features of a
            feature vector model, the logits of a classifier.
        logits: The logits again for a classifier, else None.
        errors: (path, reason) of the files that could not be embedded.
    """

    paths: list[str]
    vectors: np.ndarray
    logits: np.ndarray | None
    errors: list[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class Agreement:
    """How closely an int8 model agreed with the float model, measured
    when it was compiled (written beside the output as ``agreement``).

    Attributes:
        metric: "mean cosine similarity" (feature vectors) or "top-1
            agreement" (classifiers).
        value: The measured agreement.
        images: How many held-back images it was measured on.
        image_source: What they were ("job images", "generated images").
        min_agreement: The minimum the run enforced.
        calibration: What the quantization was calibrated on.
    """

    metric: str
    value: float
    images: int
    image_source: str
    min_agreement: float
    calibration: str

    def describe(self) -> str:
        """One line, as printed after the run."""
        return (
            f"int8 {self.metric} {self.value:.4f} with the float model on "
            f"{self.images} held-back {self.image_source} (min_agreement "
            f"{self.min_agreement}); calibrated on {self.calibration}"
        )


@dataclasses.dataclass
class EmbedSummary:
    """What `embed` returns after writing an output file.

    Attributes:
        output: The output written (a file; a folder of shards for Beam).
        errors_path: The errors file beside it (path, reason), written only
            when a file failed.
        rows: Rows in the output, including earlier runs' when resumed.
        errors: Files listed in the errors file.
        processed: Files read in this run (the rest were already done).
        engine: The engine that ran the model (see `imagehub.engines`).
        engine_reason: Why that engine.
        agreement: int8: the agreement with the float model measured when
            the model was compiled (also in OUT.config.json as
            ``agreement``); None for float32 (or when no batch ran).
    """

    output: str
    errors_path: str
    rows: int
    errors: int
    processed: int
    engine: str = "tensorflow"
    engine_reason: str = ""
    agreement: Agreement | None = None


def check_resize(resize: str) -> None:
    if resize not in RESIZE_MODES:
        raise ValueError(
            f"Unknown resize {resize!r}; expected one of {RESIZE_MODES}"
        )


def require_beam() -> None:
    """Raises ImportError, with the pip line, when Apache Beam (the
    runner='beam' extra) is not installed."""
    import importlib.util

    if importlib.util.find_spec("apache_beam") is None:
        raise ImportError(
            "runner='beam' needs Apache Beam, which is not installed: "
            + BEAM_PIP_LINE
        )


def model_id(handle: str | None) -> str | None:
    """The handle, with a local path made absolute (cwd-independent)."""
    if handle is not None and os.path.exists(handle):
        return os.path.abspath(handle)
    return handle


def run_config(
    facts: ModelFacts,
    *,
    batch_size: int,
    resize: str,
    beam_options: Mapping[str, Any] | None = None,
    precision: str = "float32",
) -> dict[str, Any]:
    """The settings saved as OUT.config.json (and compared on resume).

    Args:
        facts: The model's facts (handle, task, input size).
        batch_size: Images per model call.
        resize: How images were fitted to the input size.
        beam_options: The Beam runner's pipeline options; None for the
            local runner.
        precision: "int8" is recorded (an int8 output does not resume
            with float32 rows, nor the reverse); float32 is the default
            and is left out, so earlier outputs still resume.
    """
    config: dict[str, Any] = {
        "model": model_id(facts.handle),
        "task": facts.task,
        "image_size": list(facts.require_size()),
        "resize": resize,
        "batch_size": batch_size,
    }
    if precision != "float32":
        config["precision"] = precision
    if beam_options is not None:
        config["runner"] = "beam"
        config["beam_options"] = dict(beam_options)
    config["imagehub_version"] = __version__
    return config
