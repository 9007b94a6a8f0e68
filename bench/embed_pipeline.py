"""Benchmark of the local `imagehub embed` pipeline, before and after.

The `imagehub embed` command on the 150 bundled flower photos hard-linked
to 1,050 (as bench/engines.py), with an exported MobileNetV3Small (weights
none), each run a fresh process, start-up included: `--engine tensorflow`
and `--engine litert` (its compiled model cached by an untimed first run),
each run by this checkout's code ("after") and by the code of `--before`
(a git revision, extracted with `git archive`), interleaved round by round
so that both see the same machine. Reports the median wall seconds, the
images/s they give and the CPU seconds of the process (all threads: what
a shared machine inflates least), and checks that the rows agree: after
with before exactly, litert with tensorflow within 1e-4.

Writes bench/results/embed_pipeline.md and .json.
Usage: python bench/embed_pipeline.py [--before REV] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from _common import describe_machine
from _common import load_average
from _common import write_results
from engines import export
from engines import make_photo_folder

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The code before the pipeline work of issue 14 (its task 1).
BEFORE = "03332ee"
ENGINES = ("tensorflow", "litert")


def extract(rev: str, target: str) -> str:
    """The `imagehub` package of `rev`, extracted below `target`."""
    os.makedirs(target)
    archive = subprocess.run(
        ["git", "-C", ROOT, "archive", rev, "imagehub"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    return target


def run_embed(
    code: str, model: str, photos: str, out: str, engine: str, cache: str
) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `imagehub embed` process."""
    env = dict(
        os.environ,
        IMAGEHUB_CACHE_DIR=cache,
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=code,
    )
    cmd = [
        sys.executable,
        "-m",
        "imagehub",
        "embed",
        "--model",
        model,
        "--input",
        photos,
        "--output",
        out,
        "--engine",
        engine,
        "--no_progress",
        "--overwrite",
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-3000:]}")
    return seconds, usage.ru_utime + usage.ru_stime


def rows(path: str) -> tuple[list[str], np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table["path"].to_pylist(), np.asarray(
        table["vector"].to_pylist(), np.float32
    )


def max_relative(a: str, b: str) -> float:
    paths_a, va = rows(a)
    paths_b, vb = rows(b)
    if paths_a != paths_b:
        raise RuntimeError(f"{a} and {b} list other paths")
    scale = max(float(np.abs(vb).max()), 1e-12)
    return float(np.abs(va - vb).max()) / scale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start_load = load_average()
    work = tempfile.mkdtemp(prefix="imagehub-bench-pipeline-")
    try:
        photos = os.path.join(work, "photos")
        os.makedirs(photos)
        count = make_photo_folder(photos, args.copies)
        model = export("MobileNetV3Small", os.path.join(work, "mnv3"))
        codes = {
            "before": extract(args.before, os.path.join(work, "before")),
            "after": ROOT,
        }
        cache = os.path.join(work, "cache")
        out = {
            (code, engine): os.path.join(work, f"{code}-{engine}.parquet")
            for code in codes
            for engine in ENGINES
        }
        # Untimed: compiles and caches LiteRT's model (and warms the disk).
        run_embed(ROOT, model, photos, out["after", "litert"], "litert", cache)
        times: dict[tuple[str, str], list[tuple[float, float]]] = {
            key: [] for key in out
        }
        for r in range(args.rounds):
            for engine in ENGINES:
                for code, path in codes.items():
                    key = (code, engine)
                    times[key].append(
                        run_embed(path, model, photos, out[key], engine, cache)
                    )
                    wall, cpu = times[key][-1]
                    print(
                        f"round {r} {code:6} {engine:10} {wall:6.1f} s "
                        f"({count / wall:5.1f} images/s), CPU {cpu:5.1f} s",
                        flush=True,
                    )
        checks = {
            "after vs before, tensorflow": max_relative(
                out["after", "tensorflow"], out["before", "tensorflow"]
            ),
            "after vs before, litert": max_relative(
                out["after", "litert"], out["before", "litert"]
            ),
            "litert vs tensorflow, after": max_relative(
                out["after", "litert"], out["after", "tensorflow"]
            ),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    where = describe_machine(
        f"load average {start_load:.1f} at start, {load_average():.1f} "
        "at the end"
    )
    results = []
    for engine in ENGINES:
        for code in codes:
            walls = [w for w, _ in times[code, engine]]
            cpus = [c for _, c in times[code, engine]]
            wall = statistics.median(walls)
            results.append(
                {
                    "engine": engine,
                    "code": code,
                    "seconds": round(wall, 2),
                    "images_per_second": round(count / wall, 1),
                    "cpu_seconds": round(statistics.median(cpus), 2),
                    "all_seconds": [round(w, 2) for w in walls],
                }
            )
    by = {(r["code"], r["engine"]): r for r in results}
    md = [
        "# The local `imagehub embed` pipeline, before and after",
        "",
        f"`imagehub embed` on {count} photos (the 150 bundled ones, "
        "hard-linked copies, mostly 500x375 and 320x240 JPEGs), "
        "MobileNetV3Small (weights none), batch 32, 224x224, a fresh "
        "process per run, start-up included; LiteRT's compiled model "
        "read from the cache. `before` is the code of "
        f"`{args.before}`, `after` this checkout's; {args.rounds} rounds, "
        "each running every row once in turn; medians.",
        "",
        "| engine | code | seconds | images/s | CPU seconds | after vs "
        "before | all runs (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        base = by["before", r["engine"]]
        md.append(
            f"| {r['engine']} | {r['code']} | {r['seconds']:.1f} | "
            f"{r['images_per_second']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{base['seconds'] / r['seconds']:.2f}x | {r['all_seconds']} |"
        )

    def speedup(code: str) -> float:
        tensorflow = by[code, "tensorflow"]["seconds"]
        return tensorflow / by[code, "litert"]["seconds"]

    md += [
        "",
        f"litert over tensorflow (seconds): before {speedup('before'):.2f}x, "
        f"after {speedup('after'):.2f}x.",
        "",
        "Rows, largest difference relative to the largest value: "
        + "; ".join(f"{k} {v:.1e}" for k, v in checks.items())
        + ".",
        "",
        f"Machine: {where}.",
        "",
    ]
    write_results(
        "embed_pipeline",
        "\n".join(md),
        {"machine": where, "runs": results, "rows": checks},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
