"""Shared pytest setup: quiet TensorFlow, keep tests on the CPU, and keep
the tests' cache (models, compiled engines, scan verdicts) out of the
user's own cache."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

if not (
    os.environ.get("IMAGEHUB_CACHE_DIR", "").strip()
    or os.environ.get("TFHUB_CACHE_DIR", "").strip()
):
    _CACHE = tempfile.mkdtemp(prefix="imagehub-test-cache-")
    os.environ["IMAGEHUB_CACHE_DIR"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
