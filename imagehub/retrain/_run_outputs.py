"""The last phase of a run: evaluating the trained classifier on the
validation images, then writing the SavedModel, the TFLite model, the
labels file and the report, all or nothing."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

import numpy as np

from imagehub.retrain import _atomic
from imagehub.retrain import _report
from imagehub.retrain import _tflite
from imagehub.retrain._features import decode_paths
from imagehub.retrain._paths import default_report_dir
from imagehub.retrain._paths import image_dir
from imagehub.retrain._paths import output_kind
from imagehub.retrain._paths import output_paths
from imagehub.retrain._progress import STAGE_EXPORT
from imagehub.retrain._progress import report
from imagehub.retrain._run import Run

# Training images used to calibrate int8 quantization.
_REPRESENTATIVE_IMAGES = 100

logger = logging.getLogger(__name__)


def evaluate(run: Run) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validation (logits, labels, paths) of the final model."""
    if run.cached:
        bs = run.config.batch_size
        logits = [
            np.asarray(run.head(run.val_features[i : i + bs]))
            for i in range(0, len(run.val_features), bs)
        ]
        return (
            np.concatenate(logits),
            np.asarray(run.val_index.labels),
            list(run.val_index.paths),
        )
    label_of = dict(zip(run.val_index.paths, run.val_index.labels, strict=True))
    chunks, labels, paths = [], [], []
    for images, batch_paths in run.images(run.val_index, True):
        chunks.append(np.asarray(run.classifier(images, training=False)))
        names = decode_paths(batch_paths)
        paths += names
        labels += [label_of[p] for p in names]
    return np.concatenate(chunks), np.asarray(labels), paths


def hparams(run: Run) -> dict[str, Any]:
    """The config with the seed used, plus what the run resolved."""
    out = run.config.replace(seed=run.seed).to_dict()
    out["resolved"].update(
        {
            "image_dir": image_dir(run.config),
            "module_dir": run.module_dir,
            "image_size": list(run.image_size),
            "num_features": run.num_features,
            "class_names": run.class_names,
            "checkpoint_dir": run.checkpoint_dir,
            "report_dir": default_report_dir(run.config),
        }
    )
    return out


def _val_images(run: Run):
    for images, _ in run.images(run.val_index):
        yield images.numpy()


def _representative(run: Run):
    count = 0
    for images, _ in run.images(run.train_index):
        for image in images.numpy():
            yield image[None]
            count += 1
            if count >= _REPRESENTATIVE_IMAGES:
                return


def export(
    run: Run,
    metrics: dict[str, Any],
    history,
    val,
    outputs: dict[str, str],
) -> None:
    """Stages every output in temporary siblings, checks them, then
    moves them all into place; records each in `outputs` (kind -> path)
    and the TFLite check in ``metrics["tflite"]``."""
    from imagehub.export import export_classifier
    from imagehub.spec import format_labels

    config = run.config
    staged: list[tuple[str, str]] = []  # (tmp, final)
    scratch = tempfile.mkdtemp(prefix="imagehub-retrain-")
    report_dir = default_report_dir(config)
    wanted = [path for _, path in output_paths(config)] + [report_dir]
    total = sum(1 for w in wanted if w)
    done = 0

    def written() -> None:
        nonlocal done
        done += 1
        report(run.progress, STAGE_EXPORT, done, total)

    try:
        saved_model = None
        if config.saved_model_dir or config.tflite_output_file:
            if config.saved_model_dir:
                tmp = _atomic.temp_sibling(
                    config.saved_model_dir, directory=True
                )
                os.rmdir(tmp)
                staged.append((tmp, config.saved_model_dir))
            else:
                tmp = os.path.join(scratch, "saved_model")
            export_classifier(
                run.classifier,
                tmp,
                labels=list(run.class_names),
                activation="softmax",
                image_size=run.image_size,
                source=f"imagehub retrain on {config.tfhub_module}",
            )
            saved_model = tmp
            if config.saved_model_dir:
                written()
        if config.tflite_output_file:
            metrics["tflite"] = _tflite_output(run, saved_model, staged)
            written()
        if config.labels_output_file:
            tmp = _atomic.temp_sibling(config.labels_output_file)
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(format_labels(run.class_names))
            staged.append((tmp, config.labels_output_file))
            written()
        if report_dir:
            tmp = _atomic.temp_sibling(report_dir, directory=True)
            staged.append((tmp, report_dir))
            logits, labels, paths = val
            _report.write_report(
                tmp,
                metrics=metrics,
                hparams=hparams(run),
                history=history,
                class_names=run.class_names,
                val_paths=paths,
                val_labels=labels,
                val_predictions=np.argmax(logits, axis=-1),
                resize=config.resize,
            )
            written()
        for tmp, final in staged:
            _atomic.commit(tmp, final)
            outputs[output_kind(final, config)] = os.path.abspath(final)
            logger.info("wrote %s", final)
        staged = []
    finally:
        for tmp, _ in staged:
            _atomic.remove(tmp)
        shutil.rmtree(scratch, ignore_errors=True)


def _tflite_output(run: Run, saved_model: str, staged) -> dict[str, Any]:
    """Converts the staged SavedModel, checks the TFLite model agrees
    with it on the validation images, and stages the .tflite file."""
    import tensorflow as tf

    from imagehub.spec import SIGNATURE_FLOAT

    config = run.config
    content = _tflite.convert(
        saved_model,
        config.tflite_quantize,
        representative_images=lambda: _representative(run),
    )
    loaded = tf.saved_model.load(saved_model)
    serving = loaded.signatures[SIGNATURE_FLOAT]

    def reference(images):
        out = serving(images=tf.constant(images))
        return next(iter(out.values())).numpy()

    rate, count = _tflite.agreement(
        reference, _tflite.TFLiteClassifier(content), _val_images(run)
    )
    _tflite.check_agreement(rate, count, config.tflite_quantize)
    tmp = _atomic.temp_sibling(config.tflite_output_file)
    with open(tmp, "wb") as f:
        f.write(content)
    staged.append((tmp, config.tflite_output_file))
    return {
        "quantize": config.tflite_quantize,
        "agreement": rate,
        "count": count,
        "bytes": len(content),
    }
