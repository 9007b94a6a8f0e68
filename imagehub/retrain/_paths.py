"""Where a retraining run reads and writes: the images folder, the outputs,
and the report and checkpoint folders kept beside them by default."""

from __future__ import annotations

import os

from imagehub.retrain._config import RetrainConfig

DEFAULT_IMAGE_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "_default",
    "flowers",
)


def image_dir(config: RetrainConfig) -> str:
    """--image_dir, else the flower photos bundled with imagehub."""
    return config.image_dir or DEFAULT_IMAGE_DIR


def output_paths(config: RetrainConfig) -> list[tuple[str, str | None]]:
    """``(kind, path)`` of the model outputs, in the order they are
    written; the path is None for an output that was not asked for."""
    return [
        ("saved_model", config.saved_model_dir),
        ("tflite", config.tflite_output_file),
        ("labels", config.labels_output_file),
    ]


def output_kind(path: str, config: RetrainConfig) -> str:
    """The kind of output `path` is (``report`` if no model output)."""
    for kind, value in output_paths(config):
        if value and path == value:
            return kind
    return "report"


def _stem(path: str) -> str:
    path = os.path.abspath(path).rstrip(os.sep)
    root, ext = os.path.splitext(path)
    return root if ext in (".tflite", ".txt") else path


def _output_base(config: RetrainConfig) -> str | None:
    for _, path in output_paths(config):
        if path:
            return _stem(path)
    return None


def default_report_dir(config: RetrainConfig) -> str | None:
    """--report_dir, else ``<saved model>_report`` beside the SavedModel
    (or beside the first output); None when nothing is exported."""
    if config.report_dir:
        return config.report_dir
    base = _output_base(config)
    return None if base is None else f"{base}_report"


def default_checkpoint_dir(config: RetrainConfig) -> str | None:
    """--checkpoint_dir, else ``<saved model>_checkpoints``."""
    if config.checkpoint_dir:
        return config.checkpoint_dir
    base = _output_base(config) or (
        _stem(config.report_dir) if config.report_dir else None
    )
    return None if base is None else f"{base}_checkpoints"
