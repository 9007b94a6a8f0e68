"""Where the vendored test artifacts are, and how to run the CLI in tests."""

from __future__ import annotations

import os
import subprocess
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(_HERE))

# The real TF Hub classifier google/imagenet/mobilenet_v1_025_128/
# classification/4 as published (no model card, no signatures), vendored
# from shared/data/tfhub with its license.
TFHUB_CLASSIFIER_DIR = os.path.join(
    _HERE, "data", "imagenet_mobilenet_v1_025_128_classification_4"
)


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m imagehub ARGS` on this checkout; captures output."""
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env=cli_env(env),
        timeout=timeout,
        cwd=cwd,
    )


def cli_command(*args: str) -> list[str]:
    """The command line of `python -m imagehub ARGS` in this interpreter."""
    return [sys.executable, "-m", "imagehub", *args]


def cli_env(
    env: dict[str, str] | None = None, *, terminal: bool = False
) -> dict[str, str]:
    """The environment the CLI runs in under test: this process's, with
    this checkout first on PYTHONPATH, updated with `env` last.

    Args:
        env: Variables to set.
        terminal: As a user's shell at a terminal has it (TERM set, the
            size from the terminal, TensorFlow's logging at its defaults);
            else TensorFlow's C++ logging is quiet unless the environment
            sets it, so that captured stderr holds what imagehub says.
    """
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [_PACKAGE_PARENT, full_env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    if terminal:
        for name in ("COLUMNS", "LINES", "TF_CPP_MIN_LOG_LEVEL"):
            full_env.pop(name, None)
        full_env["TERM"] = "xterm-256color"
    else:
        full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    full_env.update(env or {})
    return full_env
