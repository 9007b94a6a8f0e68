"""Errors of a retraining run. Each says what went wrong and what to do;
none leaves a half-written output behind."""

from __future__ import annotations


class RetrainError(RuntimeError):
    """A retraining run could not finish; nothing was exported."""


class AccuracyError(RetrainError):
    """The final validation accuracy is below --assert_accuracy_at_least."""


class TrainingDivergedError(RetrainError):
    """The loss became NaN or infinite."""


class TFLiteMismatchError(RetrainError):
    """The float TFLite model disagrees with the SavedModel too often."""


class MissingDependencyError(RetrainError, ImportError):
    """An option needs a package that is not installed."""


class FlagValueError(RetrainError, ValueError):
    """A flag's value cannot be used (a missing --image_dir, a
    --tfhub_module that does not resolve or is not a feature vector); the
    command line exits 2, as for any bad flag."""


class ImageSizeError(FlagValueError):
    """--image_size does not fit the module, or no size is known."""
