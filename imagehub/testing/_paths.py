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
    full_env = cli_env()
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    full_env.update(env or {})
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )


def cli_command(*args: str) -> list[str]:
    """The command line of `python -m imagehub ARGS` in this interpreter."""
    return [sys.executable, "-m", "imagehub", *args]


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with this checkout first on PYTHONPATH,
    updated with `env`."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [_PACKAGE_PARENT, full_env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    full_env.update(env or {})
    return full_env
