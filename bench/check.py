"""Benchmark: the full `imagehub check` against one load-and-call.

The model is MobileNetV3Small (random weights) as `imagehub export --arch
MobileNetV3Small --weights none` writes it (feature vector, 224x224
default). Measured side by side in one run:

- in process (TensorFlow already imported): `imagehub.check(path)` against
  `tf.saved_model.load(path)` followed by one call on a 1x224x224x3 batch;
- end to end: `python -m imagehub check PATH` against `python -c` doing
  the load and the call (both pay the TensorFlow import).

The goal (issue 3): the full check costs no more than 15 loads-and-calls
(in process). Also reported: the safety scan alone (`imagehub.scan`, the
allowlist, saver dataflow and caps of issue 13; it is part of the check and
of every `imagehub.load`) against the same load-and-call. Writes
bench/results/check.md and check.json.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from _common import describe_machine
from _common import write_results

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
GOAL = 15.0
REPEATS = 3

_LOAD_AND_CALL = """
import sys
import numpy as np
import tensorflow as tf
obj = tf.saved_model.load(sys.argv[1])
obj(tf.constant(np.random.rand(1, 224, 224, 3).astype(np.float32)))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT, env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    return env


def _export(path: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "imagehub",
            "export",
            "--arch",
            "MobileNetV3Small",
            "--weights",
            "none",
            "--out",
            path,
        ],
        check=True,
        env=_env(),
        capture_output=True,
    )
    return time.perf_counter() - start


def _load_and_call(path: str) -> float:
    import numpy as np
    import tensorflow as tf

    images = tf.constant(np.random.rand(1, 224, 224, 3).astype(np.float32))
    start = time.perf_counter()
    obj = tf.saved_model.load(path)
    obj(images)
    return time.perf_counter() - start


def _check(path: str) -> tuple[float, object]:
    import imagehub

    start = time.perf_counter()
    report = imagehub.check(path)
    return time.perf_counter() - start, report


def _scan(path: str) -> tuple[float, object]:
    import imagehub

    start = time.perf_counter()
    result = imagehub.scan(path)
    return time.perf_counter() - start, result


def _subprocess_time(args: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(args, env=_env(), capture_output=True)
    return time.perf_counter() - start, proc.returncode


def main() -> int:
    sys.path.insert(0, ROOT)
    os.environ.update(_env())
    tmp = tempfile.mkdtemp(prefix="imagehub-bench-check-")
    path = os.path.join(tmp, "mobilenetv3small")
    export_s = _export(path)
    print(f"exported MobileNetV3Small in {export_s:.1f}s", flush=True)

    # Interleave so both see the same machine load.
    loads, checks, scans = [], [], []
    report = scanned = None
    for _ in range(REPEATS):
        loads.append(_load_and_call(path))
        seconds, report = _check(path)
        checks.append(seconds)
        seconds, scanned = _scan(path)
        scans.append(seconds)
        print(
            f"load+call {loads[-1]:.2f}s  check {checks[-1]:.2f}s  "
            f"scan {scans[-1]:.3f}s",
            flush=True,
        )
    load_s, check_s, scan_s = min(loads), min(checks), min(scans)
    ratio = check_s / load_s
    scan_ratio = scan_s / load_s

    cli_s, cli_code = _subprocess_time(
        [sys.executable, "-m", "imagehub", "check", path]
    )
    base_s, base_code = _subprocess_time(
        [sys.executable, "-c", _LOAD_AND_CALL, path]
    )
    if cli_code != 0 or base_code != 0:
        print(f"exit codes: check {cli_code}, load-and-call {base_code}")
    e2e_ratio = cli_s / base_s

    machine = describe_machine()
    passed = ratio <= GOAL and report.conforming and not scanned.refused
    failed = ", ".join(report.failed) or "none"
    runs_load = ", ".join(f"{x:.2f}" for x in loads)
    runs_check = ", ".join(f"{x:.2f}" for x in checks)
    md = "\n".join(
        [
            "# imagehub check: cost of the full check",
            "",
            "Model: MobileNetV3Small, random weights, exported by "
            "`imagehub export --arch MobileNetV3Small --weights none` "
            f"(feature vector, 224x224). Check verdict: {report.summary()}.",
            "",
            "| measurement | imagehub check | baseline: load + 1 call | "
            "ratio | goal |",
            "|---|---|---|---|---|",
            f"| in process (min of {REPEATS}) | {check_s:.2f} s | "
            f"{load_s:.2f} s | {ratio:.1f}x | <= {GOAL:.0f}x |",
            f"| safety scan alone, `imagehub.scan` (min of {REPEATS}; "
            f"{scanned.num_nodes} nodes, {scanned.num_functions} functions, "
            f"{'refused' if scanned.refused else 'clean'}) | "
            f"{scan_s * 1000:.0f} ms | {load_s:.2f} s | {scan_ratio:.3f}x | "
            "(part of the check) |",
            f"| end to end, `python -m imagehub check` vs `python -c` "
            f"(includes the TensorFlow import) | {cli_s:.2f} s | "
            f"{base_s:.2f} s | {e2e_ratio:.1f}x | (not the goal) |",
            "",
            f"All runs in process: load+call {runs_load} s; "
            f"check {runs_check} s; scan "
            + ", ".join(f"{x * 1000:.0f}" for x in scans)
            + " ms.",
            f"Failed rules: {failed}. Goal met: {'yes' if passed else 'no'}.",
            "",
            f"Machine: {machine}. Shared with other jobs while measured, so "
            "absolute times are noisy; the ratio is measured side by side.",
            "",
        ]
    )
    result = {
        "name": "check",
        "baseline": "tf.saved_model.load + one call (MobileNetV3Small)",
        "ours_s": round(check_s, 3),
        "baseline_s": round(load_s, 3),
        "ratio": round(ratio, 2),
        "goal": f"<= {GOAL:.0f}",
        "passed": passed,
        "end_to_end_ratio": round(e2e_ratio, 2),
        "scan_s": round(scan_s, 4),
        "scan_ratio": round(scan_ratio, 4),
        "scan_clean": not scanned.refused,
        "conforming": report.conforming,
        "machine": machine,
    }
    write_results("check", md, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
