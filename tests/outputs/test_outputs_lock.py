"""imagehub.outputs.output_lock: one writer per output, across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from imagehub import outputs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
HOLDER = """
import sys, time
from imagehub import outputs
with outputs.output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """A live process holding the lock of tmp_path/out.parquet."""
    target = str(tmp_path / "out.parquet")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, target],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        yield target, proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_second_writer_fails_naming_the_holder_when_the_wait_ends(holder):
    target, proc = holder
    start = time.monotonic()
    with pytest.raises(outputs.OutputLockedError) as info:
        with outputs.output_lock(target, timeout=0.5):
            pass
    assert time.monotonic() - start < 10, "the wait was not bounded"
    message = str(info.value)
    assert f"process {proc.pid}" in message and target in message, message


def test_lock_of_a_killed_holder_is_free_at_once(holder):
    target, proc = holder
    proc.kill()
    proc.wait(timeout=30)
    with outputs.output_lock(target, timeout=0.0) as lock:
        assert os.path.exists(lock)
    assert not os.path.exists(lock), "the lock file outlived its owner"


def test_lock_is_taken_again_after_release_in_one_process(tmp_path):
    target = tmp_path / "out.npy"
    for _ in range(2):
        with outputs.output_lock(target, timeout=0.0):
            pass
    assert os.listdir(tmp_path) == [], os.listdir(tmp_path)
