"""Progress events of a retraining run, for progress bars and tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

# Stages, in the order a run reports them.
STAGE_VALIDATE = "validate"  # decoding every image once; done/total images
STAGE_FEATURES = "features"  # caching features; done/total images
STAGE_TRAIN = "train"  # a training step; done/total steps of `epoch`
STAGE_EPOCH_END = "epoch_end"  # after the checkpoint; done/total epochs
STAGE_EXPORT = "export"  # writing outputs; done/total outputs
STAGES = (
    STAGE_VALIDATE,
    STAGE_FEATURES,
    STAGE_TRAIN,
    STAGE_EPOCH_END,
    STAGE_EXPORT,
)


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """One step of progress.

    Attributes:
        stage: One of `STAGES`.
        done: Units done so far in this stage (images, steps, epochs).
        total: Units in this stage.
        epoch: The 1-based epoch of ``train`` and ``epoch_end`` events.
        logs: Metrics so far (``loss``, ``accuracy``, ``val_accuracy``...).
    """

    stage: str
    done: int
    total: int
    epoch: int | None = None
    logs: dict[str, Any] = dataclasses.field(default_factory=dict)


ProgressFn = Callable[[ProgressEvent], None]


def report(progress: ProgressFn | None, *args: Any, **kwargs: Any) -> None:
    """Sends a `ProgressEvent` to `progress` if there is one."""
    if progress is not None:
        progress(ProgressEvent(*args, **kwargs))
