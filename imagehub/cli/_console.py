"""The terminal the CLI writes to: one rich console for logs and progress,
logging levels by verbosity, and TensorFlow's start-up lines kept out.

Logs go through the same `rich` console as the progress bars, so a log
line is printed above a live bar instead of being glued onto it. Levels:
by default imagehub's INFO and everyone's warnings; ``-v`` imagehub's DEBUG
and other libraries' INFO; ``-vv`` everyone's DEBUG (and TensorFlow's own
start-up lines).
TensorFlow's own start-up lines are kept out by `_quiet_import`.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any


@functools.cache
def stderr_console() -> Any:
    """The one rich console on stderr for logs and progress bars."""
    from rich.console import Console

    return Console(stderr=True)


class ConsoleHandler(logging.Handler):
    """Writes log records through `stderr_console()`, so that a live
    progress display moves them above itself."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from rich.text import Text

            stderr_console().print(
                Text(self.format(record)), soft_wrap=True, highlight=False
            )
        except Exception:  # logging must never raise
            self.handleError(record)


class _Levels(logging.Filter):
    """imagehub's records from one level, other libraries' from another."""

    def __init__(self, ours: int, others: int) -> None:
        super().__init__()
        self.ours = ours
        self.others = others

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name == "imagehub" or record.name.startswith("imagehub.")
        return record.levelno >= (self.ours if ours else self.others)


def setup_logging(verbosity: int) -> None:
    """Routes logging to the console at the levels of `verbosity` (0, 1
    for ``-v``, 2 for ``-vv``); hides TensorFlow's notes below ``-v``."""
    import warnings

    ours = logging.DEBUG if verbosity else logging.INFO
    others = (logging.DEBUG, logging.INFO, logging.WARNING)[
        max(0, 2 - verbosity)
    ]
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, ConsoleHandler)]:
        root.removeHandler(old)
    handler = ConsoleHandler()
    handler.setFormatter(
        logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(_Levels(ours, others))
    root.addHandler(handler)
    root.setLevel(min(ours, others))
    # Warnings are logged too (py.warnings), through the same console.
    logging.captureWarnings(True)
    if verbosity < 2:
        # TensorFlow's C++ logging below errors (read at its import).
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if verbosity:
        return
    # TensorFlow's Python-side notes are not the user's business either:
    # absl INFO such as "Function serve_images contains input name(s) ..."
    # and TensorFlow's "Assets written to: /tmp/..." when saving, and the
    # tf.lite.Interpreter deprecation (imagehub checks its TFLite files with
    # it on purpose). -v shows them again.
    for name in ("absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings(
        "ignore",
        message=r"\s*Warning: tf\.lite\.Interpreter is deprecated",
        category=UserWarning,
    )
