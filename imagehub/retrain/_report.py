"""The run report, written by the `export` stage: metrics.json, the
hyperparameters, two plots and a one-page report.html (per-class precision
and recall, misclassified validation images as thumbnails)."""

from __future__ import annotations

import html
import json
import logging
import os
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from imagehub.retrain._config import image_dir
from imagehub.retrain._config import quantization_label
from imagehub.retrain._evaluate import Evaluation
from imagehub.retrain._features import Data
from imagehub.retrain._fit import FitResult
from imagehub.retrain._model import Model
from imagehub.retrain._prepare import Prepared
from imagehub.retrain._thumbnails import THUMB_SIZE
from imagehub.retrain._thumbnails import thumbnail_figures
from imagehub.retrain._thumbnails import write_thumbnails

if TYPE_CHECKING:
    from imagehub.retrain._export import TFLiteCheck

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
HPARAMS_FILE = "hparams.json"
CURVES_FILE = "training_curves.png"
CONFUSION_FILE = "confusion_matrix.png"
HTML_FILE = "report.html"
THUMBS_DIR = "misclassified"
MAX_THUMBS = 60


def metrics_document(
    prepared: Prepared,
    model: Model,
    data: Data,
    fit: FitResult,
    evaluation: Evaluation,
    tflite: TFLiteCheck | None,
) -> dict[str, Any]:
    """The run's numbers as written to metrics.json."""
    metrics: dict[str, Any] = {
        "validation": evaluation.metrics.to_dict(),
        "val_accuracy": evaluation.accuracy,
        "train_accuracy": evaluation.train_accuracy,
        "accuracy_gap": evaluation.gap,
        "chance_level": evaluation.chance_level,
        "chance_basis": evaluation.chance_basis,
        "hint": evaluation.hint,
        "num_train": len(data.train),
        "num_skipped": len(data.skipped),
        "epochs_run": fit.epochs_run,
        "best_epoch": fit.best_epoch,
        "stopped_early": fit.stopped_early,
        "resumed_from_epoch": fit.resumed_from,
        "cache_features": model.cached,
        "history": fit.history,
    }
    if tflite is not None:
        metrics["tflite"] = tflite.to_dict()
    if fit.warm_start is not None:
        metrics["warm_start"] = fit.warm_start.to_dict()
    if fit.recipe is not None:
        metrics["recipe"] = fit.recipe.to_dict()
        metrics["recipe_summary"] = fit.recipe.describe()
    return metrics


def hparams_document(prepared: Prepared, model: Model) -> dict[str, Any]:
    """The config with the seed used, plus what the run resolved, as
    written to hparams.json."""
    config = prepared.config
    out = config.replace(seed=prepared.seed).to_dict()
    out["resolved"].update(
        {
            "image_dir": image_dir(config),
            "module_dir": prepared.module_dir,
            "image_size": list(model.image_size),
            "num_features": model.num_features,
            "class_names": list(prepared.class_names),
            "checkpoint_dir": prepared.checkpoint_dir,
            "report_dir": prepared.report_dir,
        }
    )
    return out


def _plot_curves(history: dict[str, list[float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
        for prefix, label in (("", "training"), ("val_", "validation")):
            values = history.get(prefix + key)
            if values:
                ax.plot(
                    range(1, len(values) + 1), values, marker="o", label=label
                )
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_confusion(
    confusion: list[list[int]], class_names: list[str], path: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    k = len(class_names)
    size = min(3 + 0.5 * k, 14)
    fig, ax = plt.subplots(figsize=(size, size))
    matrix = np.asarray(confusion)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        top = matrix.max() or 1
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    color="white" if matrix[i, j] > top / 2 else "black",
                )
    ax.set_title("validation confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _html(
    metrics: dict[str, Any],
    hparams: dict[str, Any],
    misclassified: list[dict[str, Any]],
) -> str:
    e = html.escape
    val = metrics["validation"]
    rows = "\n".join(
        f"<tr><td>{e(c['class'])}</td><td>{_fmt(c['precision'])}</td>"
        f"<td>{_fmt(c['recall'])}</td><td>{c['support']}</td></tr>"
        for c in val["per_class"]
    )
    thumbs = thumbnail_figures(misclassified)
    if not misclassified:
        thumbs = "<p>None: every validation image is classified right.</p>"
    extra = ""
    if "chance_level" in metrics:
        extra += (
            f"<li>Chance level: {metrics['chance_level']:.1%} "
            f"({e(metrics['chance_basis'])}); training accuracy "
            f"{metrics['train_accuracy']:.1%} (gap to validation "
            f"{metrics['accuracy_gap']:+.1%})</li>\n"
        )
    if metrics.get("recipe_summary"):
        extra += f"<li>Training: {e(metrics['recipe_summary'])}</li>\n"
    if metrics.get("hint"):
        extra += f"<li><b>Hint</b>: {e(metrics['hint'])}</li>\n"
    if metrics.get("tflite"):
        t = metrics["tflite"]
        extra += (
            f"<li>TFLite ({e(quantization_label(t['quantize']))}) top-1 "
            f"agreement with the SavedModel: {t['agreement']:.1%} of "
            f"{t['count']} images</li>"
        )
    # The values used (hparams.json's "resolved"), not None for "chosen".
    used = hparams.get("resolved", {})
    settings = ", ".join(
        f"{k}={used.get(k, v)!r}"
        for k, v in hparams.items()
        if k
        in (
            "tfhub_module",
            "train_epochs",
            "batch_size",
            "learning_rate",
            "momentum",
            "dropout_rate",
            "label_smoothing",
            "do_fine_tuning",
            "do_data_augmentation",
            "seed",
        )
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>imagehub retrain report</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 1em auto; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: right; }}
td:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 4px; width: {THUMB_SIZE + 20}px;
  font-size: 80%; vertical-align: top; }}
figcaption small {{ word-break: break-all; }}
img.plot {{ max-width: 100%; }}
</style></head><body>
<h1>imagehub retrain report</h1>
<ul>
<li>Final validation accuracy: <b>{val["accuracy"]:.1%}</b> on {val["count"]}
images ({metrics["num_train"]} training images, {len(val["per_class"])}
classes, {metrics["epochs_run"]} epochs)</li>
{extra}
<li>Settings: {e(settings)} (all in <a href="{HPARAMS_FILE}">{HPARAMS_FILE}</a>,
numbers in <a href="{METRICS_FILE}">{METRICS_FILE}</a>)</li>
</ul>
<h2>Training curves</h2>
<img class="plot" src="{CURVES_FILE}" alt="loss and accuracy per epoch">
<h2>Per-class precision and recall (validation)</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>images</th></tr>
{rows}
</table>
<h2>Confusion matrix</h2>
<img class="plot" src="{CONFUSION_FILE}" alt="confusion matrix">
<h2>Misclassified validation images ({len(misclassified)})</h2>
{thumbs}
</body></html>
"""


def _write_json(path: str, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)


def write_report(
    directory: str,
    *,
    metrics: dict[str, Any],
    hparams: dict[str, Any],
    history: dict[str, list[float]],
    class_names: list[str],
    val_paths: list[str],
    val_labels: np.ndarray,
    val_predictions: np.ndarray,
    resize: str = "stretch",
) -> None:
    """Writes the report files into `directory` (which must exist).

    Args:
        directory: Output folder (normally a temporary sibling that the
            caller moves into place).
        metrics: The run's metrics; must hold ``validation`` from
            `classification_metrics`, ``num_train`` and ``epochs_run``.
        hparams: The resolved configuration.
        history: Per-epoch training and validation loss and accuracy.
        class_names: Class names in index order.
        val_paths: Validation image paths, aligned with the labels.
        val_labels: True class indices.
        val_predictions: Predicted class indices.
        resize: The resize mode, for thumbnails showing what the model saw.
    """
    wrong = np.flatnonzero(
        np.asarray(val_labels) != np.asarray(val_predictions)
    )
    misclassified = [
        {
            "path": val_paths[i],
            "true": class_names[int(val_labels[i])],
            "predicted": class_names[int(val_predictions[i])],
        }
        for i in wrong
    ]
    metrics = dict(metrics)
    metrics["misclassified"] = misclassified
    _write_json(os.path.join(directory, HPARAMS_FILE), hparams)
    _plot_curves(history, os.path.join(directory, CURVES_FILE))
    _plot_confusion(
        metrics["validation"]["confusion_matrix"],
        class_names,
        os.path.join(directory, CONFUSION_FILE),
    )
    shown = misclassified[:MAX_THUMBS]
    os.makedirs(os.path.join(directory, THUMBS_DIR), exist_ok=True)
    write_thumbnails(
        os.path.join(directory, THUMBS_DIR), shown, resize, THUMBS_DIR
    )
    _write_json(os.path.join(directory, METRICS_FILE), metrics)
    with open(os.path.join(directory, HTML_FILE), "w", encoding="utf-8") as f:
        f.write(_html(metrics, hparams, shown))
