"""Benchmark: images/s of imagehub.data.dataset vs Keras and a Pillow loop.

Generates 1,000 photo-like 640x480 JPEGs in 4 class folders, then reads
them at 224x224, batch 32, one full pass per run, in this one process:

- ours: ``imagehub.data.dataset(imagehub.data.scan(folder), (224, 224))``;
- baseline: ``keras.utils.image_dataset_from_directory`` on the same
  folder, plus a division by 255 so both yield float32 in [0, 1];
- a plain Python loop with Pillow (open, convert RGB, resize, /255);
- ours again with every file forced down the Pillow path (reference).

Each reader's timing includes its folder scan. Readers run in turns
(ours, Keras, Pillow, ours, ...) after one warm-up pass each, so the page
cache and machine load affect them alike; the median of the runs is
reported. Goal: ours / Keras >= 1.0.

Usage: python bench/data.py [--images 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
from _common import describe_machine
from _common import load_average
from _common import write_results

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SIZE = (224, 224)
BATCH = 32
GOAL = 1.0


def write_photos(root: str, count: int, classes: int = 4) -> None:
    """Smooth, photo-like 640x480 JPEGs (quality 90), a few per class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        folder = os.path.join(root, f"class_{i % classes}")
        os.makedirs(folder, exist_ok=True)
        coarse = rng.uniform(0, 255, size=(12, 16, 3)).astype(np.uint8)
        im = Image.fromarray(coarse).resize((640, 480), Image.BICUBIC)
        pixels = np.asarray(im, np.float32)
        pixels += rng.normal(0.0, 6.0, size=pixels.shape)
        im = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        im.save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def read_ours(folder: str) -> int:
    from imagehub import data

    ds = data.dataset(data.scan(folder), SIZE, batch_size=BATCH)
    return sum(int(x.shape[0]) for x, _ in ds)


def read_ours_pillow(folder: str) -> int:
    """Ours with every file sent down the Pillow path (for reference)."""
    import dataclasses

    from imagehub import data

    index = data.scan(folder)
    index = dataclasses.replace(index, plain_jpeg=[None] * len(index))
    ds = data.dataset(index, SIZE, batch_size=BATCH)
    return sum(int(x.shape[0]) for x, _ in ds)


def read_keras(folder: str) -> int:
    import keras

    ds = keras.utils.image_dataset_from_directory(
        folder, image_size=SIZE, batch_size=BATCH, shuffle=False, verbose=False
    )
    ds = ds.map(lambda x, y: (x / 255.0, y))
    return sum(int(x.shape[0]) for x, _ in ds)


def read_pillow(folder: str) -> int:
    from PIL import Image

    count = 0
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            with Image.open(os.path.join(root, name)) as im:
                im = im.convert("RGB").resize(SIZE[::-1], Image.BILINEAR)
                np.asarray(im, np.float32) / 255.0
            count += 1
    return count


READERS = {
    "imagehub.data.dataset": read_ours,
    "keras image_dataset_from_directory": read_keras,
    "Pillow loop": read_pillow,
    "imagehub, Pillow path forced": read_ours_pillow,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import tensorflow as tf  # noqa: F401 - import cost outside timings

    with tempfile.TemporaryDirectory() as folder:
        write_photos(folder, args.images)
        rates: dict[str, list[float]] = {name: [] for name in READERS}
        cpu: dict[str, list[float]] = {name: [] for name in READERS}
        for run in range(args.runs + 1):
            for name, reader in READERS.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                count = reader(folder)
                elapsed = time.perf_counter() - start
                cpu_ms = (time.process_time() - start_cpu) * 1000 / count
                if count != args.images:
                    raise RuntimeError(f"{name} read {count} images")
                if run:  # run 0 warms caches and traces graphs
                    rates[name].append(count / elapsed)
                    cpu[name].append(cpu_ms)
                    print(
                        f"run {run} {name}: {count / elapsed:.1f} img/s, "
                        f"{cpu_ms:.2f} ms CPU/img"
                    )
    median = {name: statistics.median(r) for name, r in rates.items()}
    median_cpu = {name: statistics.median(c) for name, c in cpu.items()}
    ours = median["imagehub.data.dataset"]
    keras_rate = median["keras image_dataset_from_directory"]
    pillow_rate = median["Pillow loop"]
    ratio = ours / keras_rate
    cpu_ratio = (
        median_cpu["keras image_dataset_from_directory"]
        / median_cpu["imagehub.data.dataset"]
    )
    result = {
        "name": "data",
        "baseline": "keras.utils.image_dataset_from_directory",
        "ratio": round(ratio, 3),
        "goal": f">= {GOAL}",
        "passed": ratio >= GOAL,
        "machine": describe_machine(
            f"load average {load_average():.1f} at the end"
        ),
        "images": args.images,
        "image": "640x480 JPEG q90",
        "image_size": list(SIZE),
        "batch_size": BATCH,
        "runs": args.runs,
        "images_per_second": {k: round(v, 1) for k, v in median.items()},
        "all_runs": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "ratio_vs_pillow_loop": round(ours / pillow_rate, 3),
        "cpu_ms_per_image": {k: round(v, 2) for k, v in median_cpu.items()},
        "cpu_ratio": round(cpu_ratio, 3),
    }
    rows = [
        f"| {name} | {rate:.1f} | {ours / rate:.2f} | {median_cpu[name]:.2f} |"
        for name, rate in median.items()
    ]
    text = "\n".join(
        [
            "# data: reading an image folder into 224x224 float batches",
            "",
            f"{args.images} generated 640x480 JPEGs (quality 90) in 4 class "
            f"folders, read at {SIZE[0]}x{SIZE[1]}, batch {BATCH}, one full "
            "pass including the folder scan; median of "
            f"{args.runs} runs taken in turns in one process.",
            "",
            "| reader | images/s | ours / reader | CPU ms per image |",
            "|---|---|---|---|",
            *rows,
            "",
            f"Ratio vs Keras: **{ratio:.2f}** (goal >= {GOAL}: "
            f"{'met' if ratio >= GOAL else 'NOT met'}). "
            f"Ratio vs a plain Pillow loop: {ours / pillow_rate:.2f}.",
            "",
            "CPU ms per image is process CPU time (all threads) over the "
            "pass: steadier than images/s on a shared machine, and it says "
            "what each reader costs whatever the parallelism. Keras CPU / "
            f"ours CPU: **{cpu_ratio:.2f}** (above 1: ours is cheaper). On "
            "a loaded machine images/s also depends on how much CPU each "
            "pipeline gets from the scheduler, so the two ratios can "
            "disagree; see every run below.",
            "",
            "Where the difference comes from: imagehub routes plain JPEGs "
            "(RGB/gray, no EXIF rotation; found from the headers at scan "
            "time, about 0.15 ms each) to TensorFlow's decoder inside the "
            "graph at a reduced DCT scale (1/2 here: 320x240), then "
            "resamples the remaining 1.43x bilinearly; Keras decodes at "
            "full size and resizes 2.86x bilinearly without antialiasing. "
            "Other files (EXIF-rotated, CMYK, PNG, ...) take the Pillow "
            "path through tf.numpy_function: the last row sends these same "
            "JPEGs down it, for reference. All runs (images/s): "
            + "; ".join(
                f"{k}: {', '.join(f'{x:.0f}' for x in v)}"
                for k, v in rates.items()
            )
            + ".",
            "",
            f"Machine: {result['machine']} (shared with other jobs, so "
            "absolute numbers are noisy; the ratio is measured side by "
            "side).",
            "",
        ]
    )
    write_results("data", text, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
