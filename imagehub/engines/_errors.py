"""Errors of the inference engines, each naming the problem and the fix."""

from __future__ import annotations


class EngineError(RuntimeError):
    """An engine cannot run this model (conversion failed, or refused)."""


class EngineUnavailableError(EngineError, ImportError):
    """The engine's runtime is not installed; the message has the pip line."""


class ParityError(EngineError, ValueError):
    """The compiled model's outputs differ from TensorFlow's."""


class AgreementError(EngineError, ValueError):
    """An int8 model agrees with the float model less than required."""
