"""Features and labels for many images, on one machine or on Apache Beam.

`embed` streams feature vectors (or logits) to Parquet or .npy, resumably,
with bad files listed beside the output; `classify` gives top-k labels and
scores. Names are loaded on first use, so the CLI can read `DEFAULTS`
without importing numpy, TensorFlow or Beam.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagehub._callable import lazy_attributes
from imagehub._callable import make_module_callable
from imagehub.embed._defaults import DEFAULTS as DEFAULTS
from imagehub.embed._defaults import EmbedDefaults as EmbedDefaults
from imagehub.spec import read_labels as read_labels

# name -> private module defining it.
_LAZY = {
    "card_thresholds": "_classify",
    "classify": "_classify",
    "dataset_batches": "_batches",
    "list_inputs": "_inputs",
    "scores_from_logits": "_classify",
    "RUNNERS": "_run",
    "Agreement": "_run",
    "EmbedResult": "_run",
    "EmbedSummary": "_run",
    "embed": "_embed",
    "FORMATS": "_writer",
    "errors_path": "_writer",
    "config_path": "_writer",
}

__all__ = sorted([*_LAZY, "DEFAULTS", "EmbedDefaults", "read_labels"])

if TYPE_CHECKING:
    from imagehub.embed._batches import dataset_batches as dataset_batches
    from imagehub.embed._classify import card_thresholds as card_thresholds
    from imagehub.embed._classify import classify as classify
    from imagehub.embed._classify import (
        scores_from_logits as scores_from_logits,
    )
    from imagehub.embed._embed import embed as embed
    from imagehub.embed._inputs import list_inputs as list_inputs
    from imagehub.embed._run import RUNNERS as RUNNERS
    from imagehub.embed._run import Agreement as Agreement
    from imagehub.embed._run import EmbedResult as EmbedResult
    from imagehub.embed._run import EmbedSummary as EmbedSummary
    from imagehub.embed._writer import FORMATS as FORMATS
    from imagehub.embed._writer import config_path as config_path
    from imagehub.embed._writer import errors_path as errors_path


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)


# `imagehub.embed` is also a function: see imagehub/_callable.py.
make_module_callable(__name__, "embed")
