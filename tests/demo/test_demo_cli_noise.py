"""The CLI's logging setup hides TensorFlow's notes users should not see
(absl INFO from saving, the tf.lite.Interpreter deprecation) unless -v."""

from __future__ import annotations

import os
import subprocess
import sys

import imagehub

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(imagehub.__file__)))
ABSL_NOTE = "Function `serve_images` contains input name(s) images with"
TFLITE_NOTE = "tf.lite.Interpreter is deprecated and is scheduled"

# What TensorFlow does while the CLI saves a model and checks a TFLite file,
# emitted the way TensorFlow emits it (absl logging, warnings.warn).
SCRIPT = f"""
import sys, warnings
from absl import logging as absl_logging
from imagehub.cli import _setup_logging
_setup_logging(sys.argv[1] == "verbose")
absl_logging.info({ABSL_NOTE!r} + " unsupported characters")
warnings.warn(
    "    Warning: {TFLITE_NOTE} in\\n    TF 2.20. Please use LiteRT.\\n"
)
"""


def _run(mode: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT, env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_cli_logging_when_not_verbose_hides_tensorflow_notes():
    out = _run("quiet")
    assert ABSL_NOTE not in out, f"absl INFO shown:\n{out}"
    assert TFLITE_NOTE not in out, f"TFLite deprecation shown:\n{out}"


def test_cli_logging_when_verbose_shows_tensorflow_notes():
    out = _run("verbose")
    assert ABSL_NOTE in out, f"-v should show absl INFO:\n{out}"
    assert TFLITE_NOTE in out, f"-v should show the deprecation:\n{out}"
