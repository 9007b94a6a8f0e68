"""The comparison's files: compare.json (every number), an accuracy-vs-
speed scatter with the Pareto front, and report.html (the table, the
plot, per-class accuracy per model, the retrain command for the winner).
The folder is written whole or not at all (`imagehub.outputs`)."""

from __future__ import annotations

import html
import json
import math
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagehub.compare._result import CompareResult
    from imagehub.compare._result import ModelScore

JSON_FILE = "compare.json"
HTML_FILE = "report.html"
PLOT_FILE = "accuracy_vs_speed.png"


def human_size(size: int) -> str:
    """Bytes as ``"1.9 MB"``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return (
                f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            )
        value /= 1000
    return f"{value:.1f} GB"


def rank_labels(scores: tuple[ModelScore, ...]) -> list[str]:
    """``"1"`` for the best, ``"=1"`` for a model the data cannot tell
    from it, else its position; ``"-"`` for a model not scored."""
    out = []
    for i, s in enumerate(scores):
        if not s.ok:
            out.append("-")
        elif i and s.tied_with_best:
            out.append("=1")
        else:
            out.append(str(i + 1))
    return out


def gap_text(score: ModelScore) -> str:
    """The best model's accuracy minus this one's, in points, with its
    interval, and "tie" when the interval holds 0; "" for the best."""
    d = score.vs_best
    if d is None:
        return ""
    return (
        f"{100 * d.difference:+.1f} "
        f"[{100 * d.low:+.1f}, {100 * d.high:+.1f}]"
        + (" tie" if score.tied_with_best else "")
    )


def plot_accuracy_vs_speed(result: CompareResult, path: str) -> None:
    """Probe accuracy (with its fold spread) against features per second;
    the Pareto front drawn and its models filled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [s for s in result.scores if s.ok]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for s in ok:
        spread = s.probe.spread if s.probe is not None else 0.0
        ax.errorbar(
            s.features_per_second,
            s.probe_accuracy,
            yerr=0.0 if math.isnan(spread) else spread,
            fmt="o",
            markersize=9,
            color="tab:orange" if s.on_front else "tab:gray",
            markerfacecolor="tab:orange" if s.on_front else "white",
            capsize=3,
        )
        ax.annotate(
            os.path.basename(s.handle.rstrip("/")) or s.handle,
            (s.features_per_second, s.probe_accuracy),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
        )
    front = sorted(
        (s for s in ok if s.on_front), key=lambda s: s.features_per_second
    )
    if len(front) > 1:
        ax.plot(
            [s.features_per_second for s in front],
            [s.probe_accuracy for s in front],
            "--",
            color="tab:orange",
            label="Pareto front",
        )
        ax.legend(loc="lower left")
    ax.set_xscale("log")
    ax.margins(x=0.25, y=0.15)
    ax.set_xlabel("features per second (log scale)")
    ax.set_ylabel("linear-probe accuracy (cross-validated)")
    ax.set_title("Accuracy vs speed (filled: Pareto front)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}%"


def _summary_rows(result: CompareResult) -> str:
    rows = []
    for rank, s in zip(rank_labels(result.scores), result.scores, strict=True):
        name = html.escape(s.handle)
        if not s.ok:
            rows.append(
                f"<tr class='failed'><td>-</td><td>{name}</td>"
                f"<td colspan='8'>not compared: "
                f"{html.escape(s.error or '')}</td></tr>"
            )
            continue
        assert s.probe is not None and s.knn is not None  # noqa: S101
        gap = gap_text(s)
        rows.append(
            f"<tr{' class=front' if s.on_front else ''}><td>{rank}</td>"
            f"<td>{name}</td>"
            f"<td>{_pct(s.probe.mean)} &plusmn; {_pct(s.probe.spread)}</td>"
            f"<td>{_pct(s.knn.mean)} &plusmn; {_pct(s.knn.spread)}</td>"
            f"<td>{html.escape(gap)}</td>"
            f"<td>{s.features_per_second:.1f} ({html.escape(s.engine)})</td>"
            f"<td>{human_size(s.size_bytes)}</td><td>{s.num_features}</td>"
            f"<td>{s.image_size[0]}x{s.image_size[1]}</td>"
            f"<td>{html.escape(s.license or '-')}</td></tr>"
        )
    return "\n".join(rows)


def _per_class_table(result: CompareResult) -> str:
    ok = [s for s in result.scores if s.ok]
    head = "".join(f"<th>{html.escape(s.handle)}</th>" for s in ok)
    rows = []
    for c, name in enumerate(result.class_names):
        cells = "".join(f"<td>{_pct(s.per_class[c])}</td>" for s in ok)
        rows.append(f"<tr><td>{html.escape(name)}</td>{cells}</tr>")
    return (
        f"<table class='classes'><tr><th>class</th>{head}</tr>"
        f"{''.join(rows)}</table>"
    )


def _html(result: CompareResult) -> str:
    k = int(result.folds.max()) + 1 if len(result.folds) else 0
    command = (
        f"<pre>{html.escape(result.retrain_command)}</pre>"
        if result.retrain_command
        else "<p>No model could be scored.</p>"
    )
    reuse = (
        "Reuses the features compare cached (same seed, same checkpoint "
        "folder):"
        if result.reuses_cache
        else "Computes its own features (compare looked at a subset of the "
        "images, or cached nothing):"
    )
    level = next(
        (s.vs_best.level for s in result.scores if s.vs_best is not None),
        0.95,
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>imagehub compare</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1100px; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
table.summary td:nth-child(2) {{ text-align: left; }}
table.classes td:first-child {{ text-align: left; }}
tr.front td {{ background: #fff4e0; }}
tr.failed td {{ color: #a00; text-align: left; }}
pre {{ background: #f4f4f4; padding: 1em; white-space: pre-wrap; }}
</style></head><body>
<h1>Which model for {html.escape(result.image_dir)}?</h1>
<p>{len(result.paths)} images, {len(result.class_names)} classes,
{k}-fold stratified cross-validation (seed {result.seed}, the same folds
for every model). Linear probe: retrain's head recipe on cached
features; kNN: cosine, k chosen on each training part. Gap: the best
model's accuracy minus this one's, with a {100 * level:.0f}% paired
bootstrap interval; "=1" and "tie" mark models the data cannot tell
from the best. Highlighted rows are on the accuracy-vs-speed Pareto
front.</p>
<table class="summary">
<tr><th>rank</th><th>model</th><th>linear probe</th><th>kNN</th>
<th>gap to best</th><th>features/s</th><th>size</th><th>width</th>
<th>input</th><th>license</th></tr>
{_summary_rows(result)}
</table>
<h2>Accuracy vs speed</h2>
<img src="{PLOT_FILE}" alt="accuracy vs speed" width="700">
<h2>Per-class accuracy (linear probe)</h2>
{_per_class_table(result)}
<h2>Retrain with the winner</h2>
<p>{reuse}</p>
{command}
</body></html>
"""


def write_outputs(
    result: CompareResult, out: str, *, overwrite: bool
) -> dict[str, str]:
    """Writes compare.json, the plot and report.html into the folder
    `out`, atomically.

    Returns:
        Kind (``json``, ``plot``, ``report``) -> path.
    """
    from imagehub import outputs

    with outputs.atomic_directory(out, overwrite=overwrite) as tmp:
        with open(os.path.join(tmp, JSON_FILE), "w", encoding="utf-8") as f:
            json.dump(result.to_dict(), f, indent=2)
        plot_accuracy_vs_speed(result, os.path.join(tmp, PLOT_FILE))
        with open(os.path.join(tmp, HTML_FILE), "w", encoding="utf-8") as f:
            f.write(_html(result))
    return {
        "json": os.path.join(out, JSON_FILE),
        "plot": os.path.join(out, PLOT_FILE),
        "report": os.path.join(out, HTML_FILE),
    }
