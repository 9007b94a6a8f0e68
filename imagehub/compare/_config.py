"""The settings of `imagehub compare` in one frozen dataclass (the CLI
flags take their defaults from it), the progress events a comparison
reports, and its errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from imagehub.embed import DEFAULTS as EMBED_DEFAULTS

# Progress stages, in the order each model goes through them.
STAGE_LOAD = "load"  # resolving and loading the model
STAGE_FEATURES = "features"  # computing features; done/total images
STAGE_SPEED = "speed"  # timing the engine
STAGE_PROBE = "probe"  # linear probe and kNN; done/total folds
STAGE_DONE = "done"  # the model is scored
STAGE_FAILED = "failed"  # the model could not be scored (see `message`)


@dataclasses.dataclass(frozen=True)
class CompareDefaults:
    """Defaults of `imagehub.compare` and of `imagehub compare`'s flags.

    Attributes:
        folds: Number of stratified cross-validation folds.
        seed: Seed of the folds, the heads and the bootstrap; the same for
            every model, so their scores are paired.
        engine: Engine whose features per second are reported
            (`imagehub.engines.ENGINE_CHOICES`); by default `embed`'s, so
            the speed is the one `imagehub embed` would give. TensorFlow's
            is always measured too.
        max_images_per_class: Use at most this many images of each class
            (None: all), for a fast first look.
        speed_images: Number of images timed per model.
        batch_size: Images per batch of the feature pass and the timing.
        resize: How images reach the model's size (retrain's modes).
        resamples: Bootstrap resamples of each paired interval.
        level: Confidence level of the paired intervals.
    """

    folds: int = 5
    seed: int = 0
    engine: str = EMBED_DEFAULTS.engine
    max_images_per_class: int | None = None
    speed_images: int = 64
    batch_size: int = 32
    resize: str = "stretch"
    resamples: int = 2000
    level: float = 0.95


DEFAULTS = CompareDefaults()


@dataclasses.dataclass(frozen=True)
class CompareEvent:
    """One step of one model's comparison.

    Attributes:
        model: The model's handle as given.
        position: Its position among the models (0-based).
        num_models: How many models are compared.
        stage: One of the ``STAGE_*`` names.
        done: Units done (images of the feature pass, folds).
        total: Units in the stage (0 when not counted).
        message: What failed, for ``failed``.
    """

    model: str
    position: int
    num_models: int
    stage: str
    done: int = 0
    total: int = 0
    message: str = ""


ProgressFn = Callable[[CompareEvent], None]


class CompareError(Exception):
    """A comparison that cannot run (bad folder, too few images)."""


class ModelRefusedError(CompareError, ValueError):
    """A model compare cannot score (a classifier without features)."""
