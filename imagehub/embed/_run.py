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
    """

    output: str
    errors_path: str
    rows: int
    errors: int
    processed: int
    engine: str = "tensorflow"
    engine_reason: str = ""


def check_resize(resize: str) -> None:
    if resize not in RESIZE_MODES:
        raise ValueError(
            f"Unknown resize {resize!r}; expected one of {RESIZE_MODES}"
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
