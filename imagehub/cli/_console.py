"""The terminal the CLI writes to: one rich console for logs and progress,
logging levels by verbosity, and TensorFlow's start-up lines kept out.

Logs go through the same `rich` console as the progress bars, so a log
line is printed above a live bar instead of being glued onto it. Levels:
by default imagehub's INFO and everyone's warnings; ``-v`` imagehub's DEBUG
and other libraries' INFO; ``-vv`` everyone's DEBUG (and TensorFlow's own
start-up lines).

TensorFlow's C++ start-up lines (``oneDNN custom operations are on``,
``All log messages before absl::InitializeLog() ...``, the CPU feature
note) are written by static initializers of its shared libraries straight
to file descriptor 2 during ``import tensorflow``, before
``TF_CPP_MIN_LOG_LEVEL`` is read. So the CLI imports TensorFlow itself,
with descriptor 2 pointed at a temporary file, then passes on every line
that is not one of those.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import tempfile
from typing import Any

# Lines TensorFlow writes while it is imported that say nothing to users.
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized to use available CPU"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
)


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


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its start-up lines filtered out of stderr.

    Everything else written during the import (a real error, a Python
    warning) is passed on. No-op when TensorFlow is already imported.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [
                line
                for line in text.splitlines()
                if line.strip() and not STARTUP_NOISE.search(line)
            ]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
