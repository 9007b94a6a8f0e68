"""Benchmark of `imagehub embed --runner beam` against the local runner.

Marginal CPU per image (issue 22): the `imagehub embed` command, a fresh
process each, on two sizes of one photo folder (the 150 bundled flower
photos, hard-linked copies); the CPU time (user + system) of the command
and every process it started (Beam's worker processes included), and the
difference between the two sizes divided by the difference in images, so
start-up (imports, model load, pipeline set-up) cancels out. Runners:
local (`--runner local`) and the Beam DirectRunner in multi-processing
mode with 2 workers. Models: the bundled MobileNet V1 0.25 export and
MobileNetV3Small (weights none). Engines: TensorFlow, and with
`--engines` the others (their compiled models cached by a warm-up run
first, so both sizes find them). The vectors of the two runners are
compared row by row. Each (size, runner) runs `--repeats` times,
interleaved; each size's median CPU seconds are used (one run each swung
the ratio by a third on the shared machine).

Writes bench/results/beam.md and bench/results/beam.json.
Usage: python bench/beam.py [--small 300] [--large 1200] [--models ...]
       [--engines ...] [--repeats 3] [--merge]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from _common import RESULTS
from _common import describe_machine
from _common import load_average
from _common import write_results
from engines import ROOT
from engines import export
from engines import make_photo_folder
from engines import photo_paths

MODELS = ("bundled MobileNet", "MobileNetV3Small")
RUNNERS = ("local", "beam")
BEAM_OPTIONS = ("direct_num_workers=2", "direct_running_mode=multi_processing")
GOAL = 1.25


def become_subreaper() -> None:
    """Makes orphaned descendants (Beam's worker processes, which their
    launcher may not wait for) children of this process, so their CPU
    time reaches RUSAGE_CHILDREN once `reap_orphans` waits for them."""
    import ctypes

    pr_set_child_subreaper = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_orphans(timeout: float = 60.0) -> None:
    """Waits (bounded) for every orphaned descendant to exit."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left
        if pid == 0:
            if time.monotonic() > deadline:
                raise TimeoutError("a worker process outlived its job")
            time.sleep(0.05)


def run_embed(model_dir, photos, out, runner, engine, cache) -> dict:
    """One `imagehub embed` command; its CPU seconds, children included."""
    env = dict(os.environ, IMAGEHUB_CACHE_DIR=cache, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = ROOT
    flags = {
        "model": model_dir,
        "input": photos,
        "output": out,
        "engine": engine,
        "runner": runner,
        "batch_size": "32",
    }
    cmd = [sys.executable, "-m", "imagehub", "embed", "--no_progress"]
    for flag, value in flags.items():
        cmd += [f"--{flag}", value]
    if runner == "beam":
        for option in BEAM_OPTIONS:
            cmd += ["--beam_option", option]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=1800
    )
    seconds = time.perf_counter() - start
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (
        after.ru_stime - before.ru_stime
    )
    return {"cpu_s": round(cpu, 2), "wall_s": round(seconds, 2)}


def read_rows(out: str) -> tuple[list[str], np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(out).sort_by("path")
    vectors = np.stack(table.column("vector").to_numpy(False))
    return table.column("path").to_pylist(), vectors.astype(np.float32)


def measure(model_dir, folders, sizes, engine, work, cache, repeats) -> dict:
    """Both runners on both sizes, interleaved, `repeats` rounds; marginal
    ms per image from the median CPU seconds of each size."""
    runs: dict[str, dict[int, dict]] = {r: {} for r in RUNNERS}
    rounds: dict[str, dict[int, list[float]]] = {
        r: {size: [] for size in sizes} for r in RUNNERS
    }
    rows = {}
    for i in range(repeats):
        for size in sizes:
            for runner in RUNNERS:
                name = os.path.basename(model_dir)
                out = os.path.join(  # a fresh output: a run, not a resume
                    work, f"{name}-{engine}-{runner}-{size}-{i}.parquet"
                )
                run = run_embed(
                    model_dir, folders[size], out, runner, engine, cache
                )
                rounds[runner][size].append(run["cpu_s"])
                runs[runner][size] = {
                    **run,
                    "cpu_s": statistics.median(rounds[runner][size]),
                    "cpu_s_rounds": list(rounds[runner][size]),
                }
                print(f"  {engine} {runner} {size}: {run}")
                if size == sizes[-1]:
                    rows[runner] = read_rows(out)
    small, large = sizes
    result = {}
    for runner in RUNNERS:
        cpu = runs[runner]
        marginal = (cpu[large]["cpu_s"] - cpu[small]["cpu_s"]) / (large - small)
        result[runner] = {
            "runs": cpu,
            "cpu_ms_per_image": marginal * 1000,
            # What the run costs beyond its images: imports, model load,
            # pipeline set-up and Beam's worker start.
            "startup_cpu_s": cpu[small]["cpu_s"] - marginal * small,
        }
    result["ratio"] = (
        result["beam"]["cpu_ms_per_image"] / result["local"]["cpu_ms_per_image"]
    )
    local_paths, local_vectors = rows["local"]
    beam_paths, beam_vectors = rows["beam"]
    result["same_paths"] = local_paths == beam_paths
    result["max_abs_difference"] = (
        float(np.max(np.abs(local_vectors - beam_vectors)))
        if result["same_paths"]
        else None
    )
    return result


def markdown(results: dict) -> str:
    small, large = results["sizes"]
    lines = [
        "# `embed --runner beam` vs the local runner: CPU per image (issue 22)",
        "",
        f"Machine: {results['machine']}; load average before "
        f"{results['load_before']:.1f}, after {results['load_after']:.1f} "
        "(other jobs share these cores; CPU time, not wall time, is "
        "compared).",
        "",
        "`imagehub embed`, a fresh process per run, batch 32, 224x224, on "
        f"{small} and {large} photos (the 150 bundled flower photos, "
        "hard-linked copies). CPU = user + system seconds of the command "
        "and all its child processes (Beam's workers included); marginal "
        f"CPU per image = (CPU at {large} - CPU at {small}) / "
        f"{large - small}, so start-up cancels out; CPU at each size is the "
        f"median of {results.get('repeats', 1)} interleaved runs. Beam: "
        "DirectRunner, "
        f"`{' '.join('--beam_option ' + o for o in BEAM_OPTIONS)}`. "
        f"Goal: Beam <= {GOAL}x local, vectors equal within 1e-4.",
        "",
        "| model | engine | local CPU-ms/image | Beam CPU-ms/image | "
        "Beam / local | same rows | max abs. difference | "
        f"wall s at {large} (local, Beam) | start-up CPU s (local, Beam) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in results["results"].items():
        model, engine = key.split(" | ")
        diff = r["max_abs_difference"]
        lines.append(
            f"| {model} | {engine} | {r['local']['cpu_ms_per_image']:.2f} | "
            f"{r['beam']['cpu_ms_per_image']:.2f} | {r['ratio']:.2f}x | "
            f"{'yes' if r['same_paths'] else 'NO'} | "
            f"{'-' if diff is None else f'{diff:.1e}'} | "
            f"{r['local']['runs'][str(large)]['wall_s']:.1f}, "
            f"{r['beam']['runs'][str(large)]['wall_s']:.1f} | "
            f"{r['local']['startup_cpu_s']:.1f}, "
            f"{r['beam']['startup_cpu_s']:.1f} |"
        )
    lines += ["", results["verdict"], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--engines", nargs="+", default=["tensorflow"])
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="interleaved rounds; each size's median CPU is used",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of results/beam.json this run does not redo",
    )
    args = parser.parse_args()
    become_subreaper()
    per_copy = len(photo_paths())
    sizes = []
    load_before = load_average()
    results = {}
    with tempfile.TemporaryDirectory() as work:
        cache = os.path.join(work, "cache")
        folders = {}
        for n in (args.small, args.large):
            copies = max(1, round(n / per_copy))
            folder = os.path.join(work, f"photos-{n}")
            os.makedirs(folder)
            count = make_photo_folder(folder, copies)
            folders[count] = folder
            sizes.append(count)
        for name in args.models:
            model_dir = export(name, os.path.join(work, name.replace(" ", "_")))
            for engine in args.engines:
                if engine != "tensorflow":  # compile once, cached
                    run_embed(
                        model_dir,
                        folders[sizes[0]],
                        os.path.join(work, f"warm-{name}-{engine}.parquet"),
                        "local",
                        engine,
                        cache,
                    )
                print(f"{name}, {engine}", flush=True)
                r = measure(
                    model_dir, folders, sizes, engine, work, cache, args.repeats
                )
                for runner in RUNNERS:
                    r[runner]["runs"] = {
                        str(k): v for k, v in r[runner]["runs"].items()
                    }
                results[f"{name} | {engine}"] = r
    if args.merge:
        with open(os.path.join(RESULTS, "beam.json"), encoding="utf-8") as f:
            earlier = json.load(f)
        if earlier["sizes"] != sizes:
            raise SystemExit(f"--merge: beam.json has sizes {earlier['sizes']}")
        results = {**earlier["results"], **results}
    worst = max(r["ratio"] for r in results.values())
    agree = all(
        r["same_paths"] and r["max_abs_difference"] <= 1e-4
        for r in results.values()
    )
    verdict = (
        f"Worst Beam / local ratio {worst:.2f}x: goal "
        f"{'met' if worst <= GOAL else 'NOT met'}; rows "
        f"{'agree within 1e-4' if agree else 'DIFFER'}."
    )
    data = {
        "machine": describe_machine(),
        "load_before": load_before,
        "load_after": load_average(),
        "sizes": sizes,
        "repeats": args.repeats,
        "beam_options": list(BEAM_OPTIONS),
        "results": results,
        "verdict": verdict,
    }
    write_results("beam", markdown(data), data)


if __name__ == "__main__":
    main()
