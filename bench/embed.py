"""Benchmark of `imagehub embed` (issue 8).

Same process, same exported MobileNetV3Small (random weights; speed does not
depend on them), 1,000 generated 640x480 JPEGs, batch size 32, 224x224:

- end-to-end images/s of `imagehub.embed` (tf.data decoding ahead of the
  model, model call, Parquet parts and merge) against the model alone on
  already-decoded tensors (goal >= 0.8: decoding hidden behind compute) and
  against a plain loop (Pillow decode and resize, numpy batch, model call);
- peak RSS of the `imagehub embed` command at 1,000 and at 5,000 images,
  each in a fresh subprocess (goal: within 10%).

Writes bench/results/embed.md and bench/results/embed.json.
Usage: python bench/embed.py [--images 1000] [--repeats 5] [--big 5000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np
from _common import describe_machine
from _common import embed_command
from _common import load_average
from _common import run_measured
from _common import write_results

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
SIZE = (224, 224)
BATCH = 32


def generate_jpegs(folder: str, count: int, seed: int = 0) -> list[str]:
    """Photo-like 640x480 JPEGs: gradients, a few shapes, mild noise."""
    from PIL import Image
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    paths = []
    for i in range(count):
        a, b = rng.uniform(0, 255, size=(2, 3))
        t = (xx / 640.0 * rng.uniform(0.3, 1) + yy / 480.0) / 2.0
        img = a + (b - a) * t[..., None]
        img += rng.normal(0, 6, size=img.shape)
        im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(im)
        for _ in range(6):
            x0, y0 = rng.integers(0, 560), rng.integers(0, 400)
            w, h = rng.integers(20, 200, size=2)
            colour = tuple(int(c) for c in rng.integers(0, 255, size=3))
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
        path = os.path.join(folder, f"photo_{i:05d}.jpg")
        im.save(path, quality=90)
        paths.append(path)
    return paths


def export_model(path: str) -> str:
    import keras

    import imagehub

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(
        input_shape=(*SIZE, 3),
        weights=None,
        include_top=False,
        pooling="avg",
    )
    # MobileNetV3 rescales [0, 255] input itself; the export takes [0, 1].
    return imagehub.export_feature_vector(
        model, path, input_range=(0, 255), image_size=SIZE
    )


class Meter:
    """Wall time and this process's CPU time (all threads) of a block."""

    def __enter__(self) -> Meter:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rates(self, images: int) -> tuple[float, float]:
        """(images per second, CPU milliseconds per image)."""
        return images / self.wall, 1000.0 * self.cpu / images


def model_alone(obj, decoded: np.ndarray, count: int) -> tuple[float, float]:
    """images/s of the model on decoded tensors (cycled to `count`)."""
    import tensorflow as tf

    with Meter() as meter:
        done = 0
        while done < count:
            n = min(BATCH, count - done)
            idx = np.arange(done, done + n) % len(decoded)
            obj(tf.constant(decoded[idx])).numpy()
            done += n
    return meter.rates(count)


def plain_loop(obj, paths: list[str]) -> tuple[float, float]:
    """images/s of the loop people write: Pillow, numpy batch, model."""
    import tensorflow as tf
    from PIL import Image

    with Meter() as meter:
        for i in range(0, len(paths), BATCH):
            batch = []
            for path in paths[i : i + BATCH]:
                with Image.open(path) as im:
                    im = im.convert("RGB").resize(
                        (SIZE[1], SIZE[0]), Image.BILINEAR
                    )
                    batch.append(np.asarray(im, np.float32) / 255.0)
            obj(tf.constant(np.stack(batch))).numpy()
    return meter.rates(len(paths))


def decode_alone(paths: list[str]) -> tuple[float, float]:
    """images/s of embed's decoding alone (tf.data, no model)."""
    from imagehub.embed import dataset_batches
    from imagehub.embed import list_inputs

    # Single paths: their headers are read by the reader, inside the timing.
    index = list_inputs(paths)
    with Meter() as meter:
        for _ in dataset_batches(index, SIZE, "stretch", BATCH):
            pass
    return meter.rates(len(paths))


def imagehub_embed(obj, folder: str, out_dir: str) -> tuple[float, float]:
    """images/s of imagehub.embed writing Parquet (model already loaded)."""
    import imagehub

    out = os.path.join(out_dir, f"e{time.monotonic_ns()}.parquet")
    with Meter() as meter:
        summary = imagehub.embed(obj, folder, out, batch_size=BATCH)
    if summary.rows != len(os.listdir(folder)):
        raise RuntimeError(f"embedded {summary.rows} images: {summary}")
    return meter.rates(summary.rows)


def peak_rss_mb(model: str, inputs: str, out: str) -> tuple[float, float]:
    """(peak RSS MB, seconds) of `imagehub embed` in a fresh process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = embed_command(
        model, inputs, out, "--batch_size", str(BATCH), "--no_progress"
    )
    run = run_measured(cmd, env)
    print(run.stdout.strip(), flush=True)
    return run.max_rss_mb, run.seconds


def _median(values) -> float:
    return float(np.median(list(values)))


def _paired(runs, num: str, den: str, field: int) -> float:
    """Median over repeats of runs[num] / runs[den] within each repeat."""
    return _median(
        a[field] / b[field] for a, b in zip(runs[num], runs[den], strict=True)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--big", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from imagehub.data import load_image

    where = describe_machine(f"load average {load_average():.1f} at start")
    tmp = tempfile.mkdtemp(prefix="imagehub-bench-embed-")
    try:
        t = time.perf_counter()
        folder = os.path.join(tmp, "photos")
        paths = generate_jpegs(folder, args.images)
        print(f"generated {len(paths)} JPEGs in {time.perf_counter() - t:.0f}s")
        model_dir = export_model(os.path.join(tmp, "mobilenet_v3_small_fv"))
        obj = tf.saved_model.load(model_dir)
        decoded = np.stack(
            [load_image(p, SIZE) for p in paths[: 4 * BATCH]]
        )  # cycled: 1,000 decoded images would take 600 MB
        obj(tf.constant(decoded[:BATCH]))  # warm up
        out_dir = os.path.join(tmp, "out")
        os.makedirs(out_dir)
        runs: dict[str, list[tuple[float, float]]] = {
            "model": [],
            "embed": [],
            "plain": [],
            "decode": [],
        }
        for r in range(args.repeats):
            runs["model"].append(model_alone(obj, decoded, args.images))
            runs["embed"].append(imagehub_embed(obj, folder, out_dir))
            runs["plain"].append(plain_loop(obj, paths))
            runs["decode"].append(decode_alone(paths[:200]))
            print(
                f"repeat {r}: "
                + ", ".join(
                    f"{k} {v[-1][0]:.1f} images/s {v[-1][1]:.1f} CPU ms/image"
                    for k, v in runs.items()
                ),
                flush=True,
            )
        # Each repeat runs the model alone and embed back to back, so a
        # ratio within a repeat compares like with like; the median over
        # repeats discards the ones another job on the machine disturbed.
        vs_model = _paired(runs, "embed", "model", 0)
        vs_plain = _paired(runs, "embed", "plain", 0)
        cpu_ratio = _paired(runs, "model", "embed", 1)
        rate = {k: _median(r[0] for r in v) for k, v in runs.items()}
        cpu = {k: _median(r[1] for r in v) for k, v in runs.items()}

        # Peak RSS: 1,000 images, then 5,000 (links to the same files, so
        # only the number of images changes).
        big = os.path.join(tmp, "big")
        os.makedirs(big)
        for i in range(args.big):
            os.symlink(
                paths[i % len(paths)], os.path.join(big, f"p_{i:05d}.jpg")
            )
        rss_small, sec_small = peak_rss_mb(
            model_dir, folder, os.path.join(out_dir, "small.parquet")
        )
        rss_big, sec_big = peak_rss_mb(
            model_dir, big, os.path.join(out_dir, "big.parquet")
        )
        rss_ratio = rss_big / rss_small
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [
        {
            "name": "embed: imagehub.embed vs model alone",
            "ours": f"{rate['embed']:.1f} images/s",
            "baseline": "model alone on decoded tensors "
            f"({rate['model']:.1f} images/s)",
            "ratio": round(vs_model, 3),
            "goal": ">= 0.8",
            # On a shared machine the wall-clock ratio swings both ways;
            # passing needs the CPU-time ratio (next row) to agree.
            "passed": bool(vs_model >= 0.8 and cpu_ratio >= 0.8),
        },
        {
            "name": "embed: imagehub.embed vs plain loop",
            "ours": f"{rate['embed']:.1f} images/s",
            "baseline": "Pillow decode + numpy batch + model call "
            f"({rate['plain']:.1f} images/s)",
            "ratio": round(vs_plain, 3),
            "goal": "report",
            "passed": True,
        },
        {
            "name": "embed: model CPU time per image over embed's",
            "ours": f"{cpu['embed']:.2f} CPU ms/image (decoding "
            f"{cpu['decode']:.2f} of it, tf.data alone)",
            "baseline": f"model alone {cpu['model']:.2f} CPU ms/image",
            "ratio": round(cpu_ratio, 3),
            "goal": "report (the images/s ratio on an idle machine)",
            "passed": True,
        },
        {
            "name": "embed: peak RSS at 5,000 vs 1,000 images",
            "ours": f"{rss_big:.1f} MB ({args.big} images, {sec_big:.0f}s)",
            "baseline": f"{rss_small:.1f} MB ({args.images} images, "
            f"{sec_small:.0f}s)",
            "ratio": round(rss_ratio, 3),
            "goal": "<= 1.10",
            "passed": bool(rss_ratio <= 1.10),
        },
    ]
    for row in rows:
        row["machine"] = where
    raw = {k: [round(r[0], 1) for r in v] for k, v in runs.items()}
    raw_cpu = {k: [round(r[1], 2) for r in v] for k, v in runs.items()}
    md = [
        "# imagehub embed",
        "",
        f"Same process, same exported MobileNetV3Small (224x224, random "
        f"weights), {args.images} generated 640x480 JPEGs, batch {BATCH}. "
        f"{args.repeats} repeats, each running every contender once in turn; "
        "a ratio is the median over repeats of the ratio within a repeat, "
        "and images/s and CPU times are medians. `imagehub.embed` gets the "
        "loaded model (as the baselines do) and writes Parquet. Peak RSS: "
        "the `imagehub embed` command in a fresh process.",
        "",
        "| measure | ours | baseline | ratio | goal | passed |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        md.append(
            f"| {row['name']} | {row['ours']} | {row['baseline']} | "
            f"{row['ratio']:.3f} | {row['goal']} | "
            f"{'yes' if row['passed'] else 'no'} |"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    md += [
        "",
        "Images/s are wall-clock rates on a machine that may be shared "
        f"with other jobs (load average {load:.1f} at the end), so they "
        "vary from run to run (all runs below). CPU time per image (all "
        "threads of this process) is inflated least by other jobs. On two "
        "cores decoding (about 2 CPU ms per image) takes CPU time the "
        "model could use; the model alone leaves some idle, which the "
        "pipeline fills, so on an idle machine the images/s ratio is a "
        "little above the CPU ratio. The images/s row passes only if the "
        "CPU-time ratio reaches 0.8 too. Peak RSS: "
        f"{rss_small:.1f} MB at {args.images} images, {rss_big:.1f} MB at "
        f"{args.big}.",
        "",
        f"All runs, images/s: {raw}; CPU ms/image: {raw_cpu}",
        "",
        f"Machine: {where}.",
        "",
    ]
    write_results("embed", "\n".join(md), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
