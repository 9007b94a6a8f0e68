"""What every benchmark script shares: the machine line and the writer.

Scripts run as ``python bench/<name>.py``, so this module imports as
``_common`` (the script's directory is first on ``sys.path``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def load_average() -> float:
    """The 1-minute load average, or NaN where the OS has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def describe_machine(extra: str = "") -> str:
    """``platform, N cores, Python X, TF Y`` and `extra`, if any."""
    import tensorflow as tf

    text = (
        f"{platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, TF {tf.__version__}"
    )
    return f"{text}, {extra}" if extra else text


def write_results(name: str, markdown: str, data: Any, indent: int = 2) -> None:
    """Writes results/<name>.md and results/<name>.json, prints the md."""
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.md"), "w", encoding="utf-8") as f:
        f.write(markdown)
    with open(
        os.path.join(RESULTS, f"{name}.json"), "w", encoding="utf-8"
    ) as f:
        json.dump(data, f, indent=indent)
        f.write("\n")
    print(markdown)


def embed_command(
    model: str, inputs: str, output: str, *flags: str
) -> list[str]:
    """The `imagehub embed` command line a fresh interpreter runs."""
    return [
        sys.executable,
        "-m",
        "imagehub",
        "embed",
        "--model",
        model,
        "--input",
        inputs,
        "--output",
        output,
        *flags,
    ]


@dataclasses.dataclass(frozen=True)
class ProcessRun:
    """What one measured process took, and what it printed."""

    seconds: float
    cpu_s: float
    max_rss_mb: float
    stdout: str
    stderr: str


def run_measured(
    cmd: list[str], env: dict[str, str], timeout: float = 3600.0
) -> ProcessRun:
    """Runs `cmd` and measures its wall time, its own CPU seconds and peak
    RSS (`os.wait4`: this process alone, not every child so far). Output
    goes to files, so a chatty process cannot block on a full pipe; past
    `timeout` seconds it is killed. Raises RuntimeError when it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise RuntimeError(f"{' '.join(cmd)} took over {timeout} s")
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-3000:]}")
    return ProcessRun(
        seconds=seconds,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024.0,  # Linux: KB
        stdout=stdout,
        stderr=stderr,
    )
