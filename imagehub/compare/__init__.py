"""Which model for my images, measured on my images.

`compare(image_dir, models)` scores image feature-vector models on a
folder of labelled images: linear-probe accuracy (retrain's head recipe,
stratified k-fold cross-validation on cached features), cosine kNN
accuracy on the same folds, paired bootstrap intervals that say when two
models cannot be told apart, features per second, size, feature width,
input size and license; it writes compare.json and an HTML report, and
names the `imagehub retrain` command for the winner, which reuses the
features compare cached. Names are loaded on first use, so the CLI reads
`DEFAULTS` without importing numpy or TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagehub._callable import lazy_attributes
from imagehub._callable import make_module_callable
from imagehub.compare._config import DEFAULTS as DEFAULTS
from imagehub.compare._config import CompareDefaults as CompareDefaults
from imagehub.compare._config import CompareError as CompareError
from imagehub.compare._config import CompareEvent as CompareEvent
from imagehub.compare._config import ModelRefusedError as ModelRefusedError

# name -> private module defining it.
_LAZY = {
    "compare": "_compare",
    "CompareResult": "_result",
    "ModelScore": "_result",
    "FoldScores": "_probe",
    "PairedDifference": "_stats",
    "paired_bootstrap": "_stats",
    "stratified_folds": "_stats",
    "rank_labels": "_report",
    "human_size": "_report",
    "gap_text": "_report",
}

__all__ = sorted(
    [
        *_LAZY,
        "DEFAULTS",
        "CompareDefaults",
        "CompareError",
        "CompareEvent",
        "ModelRefusedError",
    ]
)

if TYPE_CHECKING:
    from imagehub.compare._compare import compare as compare
    from imagehub.compare._probe import FoldScores as FoldScores
    from imagehub.compare._report import gap_text as gap_text
    from imagehub.compare._report import human_size as human_size
    from imagehub.compare._report import rank_labels as rank_labels
    from imagehub.compare._result import CompareResult as CompareResult
    from imagehub.compare._result import ModelScore as ModelScore
    from imagehub.compare._stats import PairedDifference as PairedDifference
    from imagehub.compare._stats import paired_bootstrap as paired_bootstrap
    from imagehub.compare._stats import stratified_folds as stratified_folds


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)


# `imagehub.compare` is also a function: see imagehub/_callable.py.
make_module_callable(__name__, "compare")
