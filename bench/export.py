"""Benchmark: the exported `__call__` against the source model's `predict`.

Two rows, each at 224x224, batch 32, in one process: images per second of
the reloaded SavedModel's `__call__` on [0, 1] images (scaling folded in)
against `predict` of the source on the same images. The goal is ratio
>= 1.0 (the export is not slower). The direct call `model(x)` is reported
for context.

- MobileNetV3Small (random weights, keras.applications), exported with
  `export_feature_vector`; its `predict` gets the batch scaled as it
  expects.
- ViT (ViT-Ti/16 shape, random weights, KerasHub), saved as a preset and
  exported with `imagehub export --preset`'s path as a classifier; the
  KerasHub `ViTImageClassifier.predict` gets the same images in [0, 255]
  and runs its own ImageConverter, as KerasHub users call it.

Writes bench/results/export.md and bench/results/export.json.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from typing import Any

from _common import describe_machine
from _common import write_results

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, os.path.dirname(HERE))

BATCH = 32
SIZE = 224
ROUNDS = 7
CALLS_PER_ROUND = 3
GOAL = 1.0
# ViT-Ti/16 (DeiT-Tiny shape): 5.7M parameters.
VIT_TINY = {
    "image_shape": (SIZE, SIZE, 3),
    "patch_size": 16,
    "num_layers": 12,
    "num_heads": 3,
    "hidden_dim": 192,
    "mlp_dim": 768,
}


def _measure(runners: dict[str, Any]) -> tuple[dict, dict]:
    """Median images/s of each runner over interleaved rounds."""
    for run in runners.values():  # warm up: traces, thread pools
        run()
        run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(ROUNDS):  # interleaved, so load hits all alike
        for name, run in runners.items():
            start = time.perf_counter()
            for _ in range(CALLS_PER_ROUND):
                run()
            elapsed = time.perf_counter() - start
            times[name].append(BATCH * CALLS_PER_ROUND / elapsed)
    ips = {name: statistics.median(v) for name, v in times.items()}
    return ips, times


def _mobilenet(tmp: str, x: Any) -> tuple[dict, dict]:
    import numpy as np
    import tensorflow as tf

    from imagehub.export import arch_options
    from imagehub.export import build_arch
    from imagehub.export import export_feature_vector

    model = build_arch("MobileNetV3Small", weights="none")
    path = os.path.join(tmp, "fv")
    export_feature_vector(
        model, path, **arch_options("MobileNetV3Small", weights="none")
    )
    exported = tf.saved_model.load(path)
    x_source = x * 255.0  # MobileNetV3 expects [0, 255].
    x_tensor = tf.constant(x)
    x_source_tensor = tf.constant(x_source)
    runners = {
        "exported __call__": lambda: exported(x_tensor).numpy(),
        "source predict": lambda: model.predict(
            x_source, batch_size=BATCH, verbose=0
        ),
        "source model(x)": lambda: model(x_source_tensor).numpy(),
    }
    np.testing.assert_allclose(
        runners["exported __call__"](), runners["source predict"](), atol=1e-4
    )
    return _measure(runners)


def _vit(tmp: str, x: Any) -> tuple[dict, dict]:
    import keras_hub
    import numpy as np
    import tensorflow as tf

    from imagehub.export import export_classifier
    from imagehub.export import load_preset

    converter = keras_hub.layers.ViTImageConverter(
        image_size=(SIZE, SIZE), scale=1.0 / 127.5, offset=-1.0
    )
    task = keras_hub.models.ViTImageClassifier(
        backbone=keras_hub.models.ViTBackbone(**VIT_TINY),
        num_classes=1000,
        preprocessor=keras_hub.models.ViTImageClassifierPreprocessor(
            image_converter=converter
        ),
    )
    preset = os.path.join(tmp, "vit_preset")
    task.save_to_preset(preset)
    path = os.path.join(tmp, "vit")
    export_classifier(load_preset(preset, "classification"), path)
    exported = tf.saved_model.load(path)
    x_raw = x * 255.0  # What KerasHub users pass; predict converts it.
    x_tensor = tf.constant(x)
    x_model_tensor = tf.constant(np.asarray(converter(x_raw)))
    runners = {
        "exported __call__": lambda: exported(x_tensor).numpy(),
        "source predict": lambda: task.predict(
            x_raw, batch_size=BATCH, verbose=0
        ),
        "source model(x)": lambda: task(x_model_tensor).numpy(),
    }
    np.testing.assert_allclose(
        runners["exported __call__"](), runners["source predict"](), atol=1e-4
    )
    return _measure(runners)


ROWS = {
    "MobileNetV3Small": (
        _mobilenet,
        "export",
        "MobileNetV3Small (weights=None), include_top=False, avg",
        "keras Model.predict (source model)",
    ),
    "ViT": (
        _vit,
        "export (ViT)",
        "KerasHub ViTImageClassifier, ViT-Ti/16 shape (random weights), "
        "1000 classes, via a local preset",
        "KerasHub ViTImageClassifier.predict (with its ImageConverter)",
    ),
}


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    x = np.random.default_rng(0).random((BATCH, SIZE, SIZE, 3), np.float32)
    machine = describe_machine()
    results = []
    lines = [
        "# export: exported `__call__` vs the source model's `predict`",
        "",
        f"At {SIZE}x{SIZE}, batch {BATCH}, median of {ROUNDS} interleaved "
        f"rounds of {CALLS_PER_ROUND} calls, one process. The exported model "
        "takes [0, 1] images and scales them in its graph; the source gets "
        "the same images as it expects them (MobileNetV3: [0, 255]; the "
        "KerasHub ViT: [0, 255] through its own ImageConverter in "
        "`predict`).",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, (measure, name, model, baseline) in ROWS.items():
            ips, times = measure(tmp, x)
            ratio = ips["exported __call__"] / ips["source predict"]
            direct = ips["exported __call__"] / ips["source model(x)"]
            results.append(
                {
                    "name": name,
                    "baseline": baseline,
                    "ratio": round(ratio, 3),
                    "goal": f">= {GOAL}",
                    "passed": ratio >= GOAL,
                    "machine": machine,
                    "model": model,
                    "image_size": [SIZE, SIZE],
                    "batch_size": BATCH,
                    "rounds": ROUNDS,
                    "calls_per_round": CALLS_PER_ROUND,
                    "images_per_second": {
                        k: round(v, 1) for k, v in ips.items()
                    },
                    "all_rounds": {
                        k: [round(t, 1) for t in v] for k, v in times.items()
                    },
                    "context_ratio_vs_direct_call": round(direct, 3),
                }
            )
            lines += [
                "",
                f"## {label}: {model}",
                "",
                "| runner | images/s | ratio to predict |",
                "|---|---|---|",
            ]
            for runner, value in ips.items():
                lines.append(
                    f"| {runner} | {value:.1f} | "
                    f"{value / ips['source predict']:.2f} |"
                )
            lines += [
                "",
                f"Ratio (exported `__call__` / `predict`): **{ratio:.2f}**, "
                f"goal >= {GOAL}: "
                f"**{'passed' if ratio >= GOAL else 'FAILED'}**; exported / "
                f"direct call = {direct:.2f}.",
            ]
    lines += [
        "",
        "`predict` runs the model as a tf.function too, but pays a "
        "per-call overhead (data adapter, callbacks, batching; for KerasHub "
        "also the converter in the input pipeline) that is large at one "
        "batch. The direct call `model(x)` runs eagerly, op by op, and is "
        "shown for context.",
        "",
        f"Machine: {machine} (shared with other jobs: absolute numbers "
        "vary, the ratio is measured side by side).",
        "",
    ]
    write_results("export", "\n".join(lines), results)
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
