"""How well a classifier's top-1 scores match its accuracy: the expected
calibration error over equal-width bins, and the reliability diagram
(`imagehub evaluate --out`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

CALIBRATION_BINS = 10


@dataclasses.dataclass(frozen=True)
class Calibration:
    """How well top-1 scores match accuracy: the images' top-1 scores in
    equal-width bins over [0, 1] (Guo et al. 2017, "On Calibration of
    Modern Neural Networks").

    Attributes:
        expected_calibration_error: Sum over bins of (share of images in
            the bin) * |accuracy - mean top-1 score|; 0 is perfect.
        edges: The bins' bounds, ``CALIBRATION_BINS + 1`` values.
        confidence: Per bin, the mean top-1 score (None: empty bin).
        accuracy: Per bin, the share of right top-1 answers (None: empty).
        counts: Per bin, the number of images.
    """

    expected_calibration_error: float
    edges: tuple[float, ...]
    confidence: tuple[float | None, ...]
    accuracy: tuple[float | None, ...]
    counts: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "expected_calibration_error": self.expected_calibration_error,
            "bins": [
                {
                    "lower": lo,
                    "upper": hi,
                    "confidence": c,
                    "accuracy": a,
                    "count": n,
                }
                for lo, hi, c, a, n in zip(
                    self.edges[:-1],
                    self.edges[1:],
                    self.confidence,
                    self.accuracy,
                    self.counts,
                    strict=True,
                )
            ],
        }


def calibration(
    confidences: np.ndarray,
    correct: np.ndarray,
    bins: int = CALIBRATION_BINS,
) -> Calibration:
    """The `Calibration` of top-1 scores `confidences` whose answers were
    `correct` (booleans); a score of exactly 1 falls in the last bin."""
    conf = np.asarray(confidences, np.float64)
    right = np.asarray(correct, np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    n = len(conf)
    ece = 0.0
    mean_conf: list[float | None] = []
    mean_acc: list[float | None] = []
    counts = []
    for b in range(bins):
        member = which == b
        count = int(member.sum())
        counts.append(count)
        if not count:
            mean_conf.append(None)
            mean_acc.append(None)
            continue
        c, a = float(conf[member].mean()), float(right[member].mean())
        mean_conf.append(c)
        mean_acc.append(a)
        ece += count / n * abs(a - c)
    return Calibration(
        expected_calibration_error=ece,
        edges=tuple(float(e) for e in edges),
        confidence=tuple(mean_conf),
        accuracy=tuple(mean_acc),
        counts=tuple(counts),
    )


def write_reliability_diagram(
    result: Calibration, path: str, *, overwrite: bool = False
) -> None:
    """Writes `result` as a reliability diagram PNG (accuracy per bin of
    top-1 score, against the diagonal of perfect calibration).

    Raises:
        OutputExistsError: `path` exists and `overwrite` is False.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from imagehub.outputs import atomic_file

    edges = np.asarray(result.edges)
    width = edges[1:] - edges[:-1]
    accuracy = [a if a is not None else 0.0 for a in result.accuracy]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.bar(
        edges[:-1], accuracy, width=width, align="edge", edgecolor="black",
        alpha=0.7, label="accuracy",
    )  # fmt: skip
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-1 score")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {result.expected_calibration_error:.3f})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_file(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
